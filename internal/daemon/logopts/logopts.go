// Package logopts holds the options of a container log read, shared by the API and the daemon.
package logopts

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Options are the query of GET /containers/{id}/logs.
type Options struct {
	Stdout, Stderr, Timestamps, Follow bool
	Tail                               string    // "all" or a count
	Since, Until                       time.Time // zero: unbounded
	// OnlyNew skips what is already logged: attach streams output from now on.
	OnlyNew bool
}

// ParseTime reads the API's since/until: Unix seconds with an optional fraction ("" is zero).
func ParseTime(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	sec, frac, _ := strings.Cut(v, ".")
	s, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid timestamp %q", v)
	}
	var ns int64
	if frac != "" {
		frac = (frac + "000000000")[:9]
		if ns, err = strconv.ParseInt(frac, 10, 64); err != nil {
			return time.Time{}, fmt.Errorf("invalid timestamp %q", v)
		}
	}
	return time.Unix(s, ns), nil
}

// Keep reports whether an entry logged at t is within the window.
func (o Options) Keep(t time.Time) bool {
	return (o.Since.IsZero() || !t.Before(o.Since)) && (o.Until.IsZero() || !t.After(o.Until))
}
