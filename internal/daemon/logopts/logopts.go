// Package logopts holds the options of a container log read, shared by the API and the daemon.
package logopts

import (
	"time"
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
