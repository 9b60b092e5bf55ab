package events

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Options are GET /events' parameters.
type Options struct {
	Since, Until time.Time // zero: not given
	Filter       Filter
}

// Validate refuses a window that ends before it begins, in dockerd's words.
func (o Options) Validate() error {
	if !o.Since.IsZero() && !o.Until.IsZero() && o.Since.After(o.Until) {
		return fmt.Errorf("`since` time (%d.%09d) cannot be after `until` time (%d.%09d)",
			o.Since.Unix(), o.Since.Nanosecond(), o.Until.Unix(), o.Until.Nanosecond())
	}
	return nil
}

// ParseTime reads dockerd's timestamps: seconds since the epoch with optional fractional
// nanoseconds ("1700000000.123456789"), as clients send --since and --until.
func ParseTime(s string) (time.Time, error) {
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
