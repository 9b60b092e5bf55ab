package stream

import "net"

// AttachOptions are the streams an attach takes (POST /containers/{id}/attach).
type AttachOptions struct {
	Stdin, Stdout, Stderr bool
	Logs, Stream          bool
	DetachKeys            string // "" for Docker's default, ctrl-p,ctrl-q
}

// Upgrade turns an API request into a raw two-way stream (the 101 response); tty picks its
// media type. The daemon calls it once it has done what must precede the response.
type Upgrade func(tty bool) (net.Conn, error)
