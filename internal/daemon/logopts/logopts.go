// Package logopts holds the options of a container log read, shared by the API and the daemon.
package logopts

import (
	"errors"
	"time"

	"github.com/berthproject/berth/internal/errdefs"
)

// Options are the query of GET /containers/{id}/logs.
type Options struct {
	Stdout, Stderr, Timestamps, Follow bool
	Tail                               string    // "all" or a count
	Since, Until                       time.Time // zero: unbounded
}

// Keep reports whether an entry logged at t is within the window.
func (o Options) Keep(t time.Time) bool {
	return (o.Since.IsZero() || !t.Before(o.Since)) && (o.Until.IsZero() || !t.After(o.Until))
}

// DriverNone is the log driver that keeps no log.
const DriverNone = "none"

// Readable fails for a container whose log driver keeps no log (none), with dockerd's error.
func Readable(driver string) error {
	if driver == DriverNone {
		return errdefs.NotImplemented(errors.New("configured logging driver does not support reading"))
	}
	return nil
}
