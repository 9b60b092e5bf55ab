// Package logopts holds the options of a container log read, shared by the API and the daemon.
package logopts

// Options are the query of GET /containers/{id}/logs.
type Options struct {
	Stdout, Stderr, Timestamps, Follow bool
	Tail                               string // "all" or a count
	// OnlyNew skips what is already logged: attach streams output from now on.
	OnlyNew bool
}
