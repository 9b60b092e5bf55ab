// Package monitor is berth-shim: the small process that is the parent of one container. It runs
// the OCI runtime's create and start, owns the container's stdio and writes it to the json-file
// log, reaps the container (as a subreaper, grandchildren too), records how it exited, and answers
// the daemon on a unix socket. It is its own session, so it and its container outlive berthd;
// a restarted berthd reconnects to the socket, or reads the exit record if the shim has gone.
package monitor

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Files in a shim's state directory (mode 0700).
const (
	SocketFile = "shim.sock"
	PidFile    = "shim.pid"
	InitPid    = "init.pid"
	ExitFile   = "exit.json"
)

// Exit is how a container ended, written atomically to exit.json.
type Exit struct {
	Code       int       `json:"exit_code"`
	OOMKilled  bool      `json:"oom_killed"`
	FinishedAt time.Time `json:"finished_at"`
	Error      string    `json:"error,omitempty"` // the container never started: why
}

// Request is one call on the shim's socket.
type Request struct {
	Op     string `json:"op"` // "state", "kill", "wait"
	Signal int    `json:"signal,omitempty"`
	All    bool   `json:"all,omitempty"`
}

// Reply answers a Request.
type Reply struct {
	Pid     int    `json:"pid,omitempty"`
	Running bool   `json:"running"`
	Exit    *Exit  `json:"exit,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Call sends one request to the shim listening on socket (or, given a directory, on its
// shim.sock) and returns its reply. "wait" blocks until the container exits or the deadline passes.
func Call(socket string, req Request, timeout time.Duration) (*Reply, error) {
	if fi, err := os.Stat(socket); err == nil && fi.IsDir() {
		socket = filepath.Join(socket, SocketFile)
	}
	conn, err := net.DialTimeout("unix", socket, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if timeout > 0 {
		conn.SetDeadline(time.Now().Add(timeout))
	}
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return nil, err
	}
	var rep Reply
	if err := json.NewDecoder(conn).Decode(&rep); err != nil {
		return nil, fmt.Errorf("shim reply: %w", err)
	}
	if rep.Error != "" {
		return &rep, errors.New(rep.Error)
	}
	return &rep, nil
}

// ReadExit reads a finished container's exit record.
func ReadExit(dir string) (*Exit, error) {
	b, err := os.ReadFile(filepath.Join(dir, ExitFile))
	if err != nil {
		return nil, err
	}
	var e Exit
	return &e, json.Unmarshal(b, &e)
}
