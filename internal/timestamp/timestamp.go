// Package timestamp reads the times Docker's API and filters take.
package timestamp

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseUnix reads the API's form: seconds since the epoch with an optional fraction
// ("1700000000.123456789"), as clients send --since and --until ("" is the zero time).
func ParseUnix(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	sec, frac, _ := strings.Cut(s, ".")
	secs, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("failed to parse value as time or duration: %q", s)
	}
	var nanos int64
	if frac != "" {
		if nanos, err = strconv.ParseInt((frac + "000000000")[:9], 10, 64); err != nil {
			return time.Time{}, fmt.Errorf("failed to parse value as time or duration: %q", s)
		}
	}
	return time.Unix(secs, nanos), nil
}

// Parse reads what filters such as until= take: a duration back from now ("24h"), an RFC 3339
// date or date-time (local time without a zone), or the Unix form.
func Parse(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, time.RFC3339, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02T15", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return ParseUnix(s)
}
