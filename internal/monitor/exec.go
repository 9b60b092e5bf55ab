package monitor

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/berthproject/berth/internal/atomicfile"
	"github.com/berthproject/berth/internal/signals"
	"golang.org/x/sys/unix"
)

// execProc is a process started in the container by docker exec. The shim is its parent (the
// runtime exits once it runs; the shim is the subreaper), so only the shim learns its exit.
type execProc struct {
	id     string
	pid    int
	master *os.File
	exited chan int // its exit code, once
}

// lockedWriter serializes frames from several streams onto one connection.
type lockedWriter struct {
	mu   sync.Mutex
	w    io.Writer
	dead bool
}

func (l *lockedWriter) frame(stream byte, p []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dead {
		return
	}
	if err := WriteFrame(l.w, stream, p); err != nil {
		l.dead = true // the client went away: the process keeps running, its output is dropped
	}
}

func (l *lockedWriter) control(c Control) {
	b, _ := json.Marshal(c)
	l.frame(FrameControl, b)
}

// drain copies r into frames until it ends, dropping output once the client is gone so the
// process never blocks on a full pipe.
func drain(r io.Reader, out *lockedWriter, stream byte, done *sync.WaitGroup) {
	defer done.Done()
	buf := make([]byte, 32*1024)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			out.frame(stream, buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// consolePath is where a runtime sends a terminal's master: next to the control socket, whose
// directory is short enough for a socket path.
func (s *shim) consolePath(execID string) string {
	name := strings.TrimSuffix(filepath.Base(s.opts.Socket), ".sock")
	if execID != "" {
		name += "-" + execID[:min(8, len(execID))]
	}
	return filepath.Join(filepath.Dir(s.opts.Socket), name+".tty")
}

// handleExec starts a process in the container and streams it over conn: a control frame with
// its pid, its output, then a control frame with its exit code.
func (s *shim) handleExec(dec *json.Decoder, conn net.Conn, req Request) {
	out := &lockedWriter{w: conn}
	x := req.Exec
	if x == nil || x.Process == nil || x.ID == "" || strings.ContainsAny(x.ID, "/.") {
		out.control(Control{Error: "exec: no process given"})
		return
	}
	s.mu.Lock()
	running := s.exit == nil && s.pid > 0
	s.mu.Unlock()
	if !running {
		out.control(Control{Error: "container is not running"})
		return
	}
	p, in, outputs, err := s.startExec(x, req.Stdin)
	if err != nil {
		out.control(Control{Error: err.Error()})
		return
	}
	defer func() {
		s.mu.Lock()
		delete(s.execs, x.ID)
		s.mu.Unlock()
		if p.master != nil {
			p.master.Close()
		}
	}()
	out.control(Control{Pid: p.pid})
	var copying sync.WaitGroup
	for stream, r := range outputs {
		copying.Add(1)
		go drain(r, out, stream, &copying)
	}
	if in != nil {
		go func() {
			streamInput(dec, conn, in)
			in.Close()
		}()
	}
	code := <-p.exited
	waitTimeout(&copying, 2*time.Second) // output still buffered, not a background child holding it open
	for _, r := range outputs {
		if r != p.master { // the terminal is closed with the exec record
			r.Close()
		}
	}
	out.control(Control{ExitCode: &code})
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// startExec runs `runtime exec --detach` with the process's stdio (pipes, or a terminal whose
// master the runtime sends back) and registers the process for the reaper.
func (s *shim) startExec(x *ExecRequest, stdin bool) (*execProc, *input, map[byte]*os.File, error) {
	procFile := filepath.Join(s.opts.StateDir, "exec-"+x.ID+".json")
	pidFile := filepath.Join(s.opts.StateDir, "exec-"+x.ID+".pid")
	b, err := json.Marshal(x.Process)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := atomicfile.WriteFileNoSync(procFile, b, 0o600); err != nil {
		return nil, nil, nil, err
	}
	defer os.Remove(procFile)
	defer os.Remove(pidFile)
	args := []string{"exec", "--detach", "--process", procFile, "--pid-file", pidFile}
	var console *consoleListener
	if x.Process.Terminal {
		if console, err = listenConsole(s.consolePath(x.ID)); err != nil {
			return nil, nil, nil, err
		}
		defer console.Close()
		args = append(args, "--console-socket", console.path)
	}
	cmd := s.runtime(append(args, s.opts.ID)...)
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, nil, nil, err
	}
	defer devnull.Close()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, devnull
	outputs := map[byte]*os.File{}
	var in *input
	var stdio *processStdio
	if !x.Process.Terminal {
		if stdio, err = pipeStdio(cmd, stdin); err != nil {
			return nil, nil, nil, err
		}
		outputs, in = stdio.outputs, stdio.in
	}
	var got <-chan received
	if console != nil {
		got = console.receiveAsync(30 * time.Second)
	}
	// Exits of unknown children are kept while an exec starts: this one may exit before its
	// pid is read from the pid file.
	s.mu.Lock()
	s.execStarting++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.execStarting--; s.execStarting == 0 {
			s.unclaimed = map[int]unix.WaitStatus{}
		}
		s.mu.Unlock()
	}()
	err = s.run(cmd)
	closeAll := func() {}
	if stdio != nil {
		stdio.closeChildEnds()
		closeAll = stdio.closeOurs
	}
	if err != nil {
		closeAll()
		return nil, nil, nil, s.runtimeError(err)
	}
	p := &execProc{id: x.ID, exited: make(chan int, 1)}
	if console != nil {
		r := <-got
		if r.err != nil {
			return nil, nil, nil, r.err
		}
		p.master = r.master
		resize(p.master, x.Height, x.Width)
		outputs[FrameStdout] = p.master
		if stdin {
			in = &input{w: p.master}
		}
	}
	if p.pid, err = readPid(pidFile); err != nil {
		closeAll()
		return nil, nil, nil, fmt.Errorf("exec: %w", err)
	}
	s.mu.Lock()
	s.execs[x.ID] = p
	s.execByPid[p.pid] = p
	if ws, ok := s.unclaimed[p.pid]; ok {
		delete(s.unclaimed, p.pid)
		delete(s.execByPid, p.pid)
		p.exited <- signals.ExitCode(ws)
	}
	s.mu.Unlock()
	return p, in, outputs, nil
}

// childExited is the reaper's report of a child other than the container's init.
func (s *shim) childExited(pid int, ws unix.WaitStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.execByPid[pid]; ok {
		delete(s.execByPid, pid)
		p.exited <- signals.ExitCode(ws)
		return
	}
	if s.execStarting > 0 {
		s.unclaimed[pid] = ws
	}
}

// endExecs reports the execs the reaper never saw exit (the container is gone) as killed.
func (s *shim) endExecs() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for pid, p := range s.execByPid {
		delete(s.execByPid, pid)
		p.exited <- 128 + int(unix.SIGKILL)
	}
}

func (s *shim) pendingExecs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.execByPid)
}

// killExec signals an exec's process (a health probe past its timeout). The reaper is held off
// meanwhile, so the pid cannot be reaped and reused between the check and the signal.
func (s *shim) killExec(id string, sig int) error {
	s.reapMu.Lock()
	defer s.reapMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.execs[id]
	if !ok {
		return errors.New("no such exec")
	}
	if _, running := s.execByPid[p.pid]; !running {
		return nil // already exited
	}
	return unix.Kill(p.pid, unix.Signal(sig))
}

// resizeTerminal answers a resize request for the container's terminal or an exec's.
func (s *shim) resizeTerminal(req Request) error {
	s.mu.Lock()
	master := s.master
	if req.ExecID != "" {
		p, ok := s.execs[req.ExecID]
		if !ok {
			s.mu.Unlock()
			return errors.New("no such exec")
		}
		master = p.master
	}
	s.mu.Unlock()
	return resize(master, req.Height, req.Width)
}
