// Package monitor is the daemon's side of berth-shim (internal/shim), the small process that is
// the parent of one container: the requests and replies of its unix socket, the exit record it
// leaves, and the wait for it to be gone. The shim itself is its own session, so it and its
// container outlive berthd; a restarted berthd reconnects to the socket, or reads the exit
// record if the shim has gone.
package monitor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/berthproject/berth/internal/monitor/wire"
	"github.com/berthproject/berth/internal/procstat"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Files in a shim's state directory (mode 0700).
const (
	SocketFile = wire.SocketFile
	PidFile    = wire.PidFile
	InitPid    = wire.InitPid
	ExitFile   = wire.ExitFile
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
	Op     string `json:"op"` // "state", "kill", "wait", "attach", "exec", "resize"
	Signal int    `json:"signal,omitempty"`
	All    bool   `json:"all,omitempty"`
	// attach and exec: which streams the caller takes. With Stdin the rest of the connection
	// after the request is the process's input; the caller's half-close is its end.
	Stdin  bool `json:"stdin,omitempty"`
	Stdout bool `json:"stdout,omitempty"`
	Stderr bool `json:"stderr,omitempty"`
	// exec: the process to start in the container.
	Exec *ExecRequest `json:"exec,omitempty"`
	// resize: the terminal to resize (ExecID "" for the container's own) and its new size;
	// kill: the exec to signal instead of the container.
	ExecID string `json:"exec_id,omitempty"`
	Height uint16 `json:"height,omitempty"`
	Width  uint16 `json:"width,omitempty"`
}

// ExecRequest is a process to run in the running container (docker exec).
type ExecRequest struct {
	ID      string         `json:"id"`
	Process *specs.Process `json:"process"`
	Height  uint16         `json:"height,omitempty"` // initial terminal size
	Width   uint16         `json:"width,omitempty"`
}

// Streams of an attach or exec connection (see wire).
const (
	FrameStdout  = wire.FrameStdout
	FrameStderr  = wire.FrameStderr
	FrameControl = wire.FrameControl
)

// Control is the payload of a control frame on an exec connection: first the pid once the
// process runs (or the error that kept it from running), last its exit code.
type Control struct {
	Pid      int    `json:"pid,omitempty"`
	ExitCode *int   `json:"exit_code,omitempty"`
	Error    string `json:"error,omitempty"`
}

// WriteFrame writes one frame.
func WriteFrame(w io.Writer, stream byte, p []byte) error { return wire.WriteFrame(w, stream, p) }

// ReadFrame reads one frame; buf is reused when large enough.
func ReadFrame(r io.Reader, buf []byte) (stream byte, payload []byte, err error) {
	return wire.ReadFrame(r, buf)
}

// Open sends a streaming request (attach, exec) and returns the connection, which then carries
// frames from the shim and input to it.
func Open(socket string, req Request) (*net.UnixConn, error) {
	conn, err := net.DialTimeout("unix", socket, 5*time.Second)
	if err != nil {
		return nil, err
	}
	// No newline after the request, unlike Call: what follows it is the process's input.
	b, err := json.Marshal(req)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if _, err := conn.Write(b); err != nil {
		conn.Close()
		return nil, err
	}
	return conn.(*net.UnixConn), nil
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

// AwaitGone waits, up to timeout, until the shim that last used stateDir has exited. A shim
// reports a container's exit before it has the runtime delete the container (so the daemon is
// told at once); the next start of the same container, which reuses its id in the runtime, must
// wait for that delete. A pid that is no longer a shim of this state directory counts as gone.
func AwaitGone(stateDir string, timeout time.Duration) error { return WatchGone(stateDir)(timeout) }

// WatchGone is AwaitGone in two steps: it finds the shim now (so stateDir may go away after) and
// returns the wait.
func WatchGone(stateDir string) (wait func(timeout time.Duration) error) {
	gone := func(time.Duration) error { return nil }
	b, err := os.ReadFile(filepath.Join(stateDir, PidFile))
	if err != nil {
		return gone
	}
	// "pid starttime" (a shim started before starttimes were recorded wrote only its pid)
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return gone
	}
	pid, err := strconv.Atoi(fields[0])
	if err != nil || pid <= 0 {
		return gone
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return gone // ESRCH: gone
	}
	// Checked after the pidfd pins the pid: a reused pid is some other process.
	if len(fields) > 1 {
		if start, _, err := procstat.Stat(pid); err != nil || strconv.FormatUint(start, 10) != fields[1] {
			unix.Close(fd)
			return gone
		}
	} else if cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err != nil || !bytes.Contains(cmdline, []byte("\x00"+stateDir+"\x00")) {
		unix.Close(fd)
		return gone
	}
	return func(timeout time.Duration) error {
		defer unix.Close(fd)
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for deadline := time.Now().Add(timeout); ; {
			left := time.Until(deadline)
			if left <= 0 {
				return fmt.Errorf("the previous monitor of this container (pid %d) has not exited", pid)
			}
			n, err := unix.Poll(fds, int(left.Milliseconds())+1)
			if err == unix.EINTR {
				continue
			}
			if err != nil || n > 0 {
				return nil
			}
		}
	}
}
