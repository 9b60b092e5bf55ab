package shim

import (
	"errors"

	"github.com/berthproject/berth/internal/jsonlite"
)

// request is one call on the shim's socket: monitor.Request as the daemon encodes it.
type request struct {
	op                    string // "state", "kill", "wait", "attach", "exec", "resize"
	signal                int
	all                   bool
	stdin, stdout, stderr bool
	exec                  *execRequest
	// resize: the terminal to resize ("" for the container's own) and its new size; kill: the
	// exec to signal instead of the container.
	execID        string
	height, width uint16
}

// execRequest is a process to run in the container (monitor.ExecRequest).
type execRequest struct {
	id            string
	process       []byte // the OCI process, as JSON: the runtime reads it from a file
	terminal      bool   // the process's "terminal"
	height, width uint16 // initial terminal size
}

func parseRequest(raw []byte) (*request, error) {
	r := &request{}
	err := jsonlite.Members(raw, func(k string, v []byte) (err error) {
		switch k {
		case "op":
			r.op, err = jsonlite.String(v)
		case "signal":
			r.signal, err = jsonlite.Int(v)
		case "all":
			r.all, err = jsonlite.Bool(v)
		case "stdin":
			r.stdin, err = jsonlite.Bool(v)
		case "stdout":
			r.stdout, err = jsonlite.Bool(v)
		case "stderr":
			r.stderr, err = jsonlite.Bool(v)
		case "exec_id":
			r.execID, err = jsonlite.String(v)
		case "height":
			r.height, err = uint16Value(v)
		case "width":
			r.width, err = uint16Value(v)
		case "exec":
			if string(v) != "null" {
				r.exec, err = parseExecRequest(v)
			}
		}
		return err
	})
	return r, err
}

func parseExecRequest(raw []byte) (*execRequest, error) {
	x := &execRequest{}
	err := jsonlite.Members(raw, func(k string, v []byte) (err error) {
		switch k {
		case "id":
			x.id, err = jsonlite.String(v)
		case "height":
			x.height, err = uint16Value(v)
		case "width":
			x.width, err = uint16Value(v)
		case "process":
			if string(v) == "null" {
				return nil
			}
			x.process = v
			return jsonlite.Members(v, func(k string, v []byte) (err error) {
				if k == "terminal" {
					x.terminal, err = jsonlite.Bool(v)
				}
				return err
			})
		}
		return err
	})
	return x, err
}

func uint16Value(v []byte) (uint16, error) {
	n, err := jsonlite.Int(v)
	if err == nil && (n < 0 || n > 0xFFFF) {
		err = errors.New("out of range")
	}
	return uint16(n), err
}
