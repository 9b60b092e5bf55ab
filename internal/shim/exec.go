package shim

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/berthproject/berth/internal/atomicfile"
	"github.com/berthproject/berth/internal/jsonlite"
	"github.com/berthproject/berth/internal/monitor/wire"
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
	if err := wire.WriteFrame(l.w, stream, p); err != nil {
		l.dead = true // the client went away: the process keeps running, its output is dropped
	}
}

// control writes a control frame (monitor.Control): the pid once the process runs, or the error
// that kept it from running; last, its exit code.
func (l *lockedWriter) control(pid int, exitCode *int, err string) {
	o := jsonlite.NewObject(nil)
	if pid != 0 {
		o.Int("pid", pid)
	}
	if exitCode != nil {
		o.Int("exit_code", *exitCode)
	}
	if err != "" {
		o.String("error", err)
	}
	l.frame(wire.FrameControl, o.Bytes())
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
func (s *shim) handleExec(in io.Reader, conn *os.File, req *request) {
	out := &lockedWriter{w: conn}
	x := req.exec
	if x == nil || x.process == nil || x.id == "" || strings.ContainsAny(x.id, "/.") {
		out.control(0, nil, "exec: no process given")
		return
	}
	s.mu.Lock()
	running := s.exit == nil && s.pid > 0
	s.mu.Unlock()
	if !running {
		out.control(0, nil, "container is not running")
		return
	}
	p, stdin, outputs, err := s.startExec(x, req.stdin)
	if err != nil {
		out.control(0, nil, err.Error())
		return
	}
	defer func() {
		s.mu.Lock()
		delete(s.execs, x.id)
		s.mu.Unlock()
		if p.master != nil {
			p.master.Close()
		}
	}()
	out.control(p.pid, nil, "")
	var copying sync.WaitGroup
	for stream, r := range outputs {
		copying.Add(1)
		go drain(r, out, stream, &copying)
	}
	if stdin != nil {
		go func() {
			copyInput(stdin, in) // until the client's half-close
			stdin.Close()
		}()
	}
	code := <-p.exited
	waitTimeout(&copying, 2*time.Second) // output still buffered, not a background child holding it open
	for _, r := range outputs {
		if r != p.master { // the terminal is closed with the exec record
			r.Close()
		}
	}
	out.control(0, &code, "")
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
func (s *shim) startExec(x *execRequest, stdin bool) (*execProc, *input, map[byte]*os.File, error) {
	procFile := filepath.Join(s.opts.StateDir, "exec-"+x.id+".json")
	pidFile := filepath.Join(s.opts.StateDir, "exec-"+x.id+".pid")
	if err := atomicfile.WriteFileNoSync(procFile, x.process, 0o600); err != nil {
		return nil, nil, nil, err
	}
	defer os.Remove(procFile)
	defer os.Remove(pidFile)
	args := []string{"exec", "--detach", "--process", procFile, "--pid-file", pidFile}
	var console *consoleListener
	var err error
	if x.terminal {
		if console, err = listenConsole(s.consolePath(x.id)); err != nil {
			return nil, nil, nil, err
		}
		defer console.Close()
		args = append(args, "--console-socket", console.path)
	}
	cmd := s.runtime(append(args, s.opts.ID)...)
	outputs := map[byte]*os.File{}
	var in *input
	var stdio *processStdio
	if !x.terminal {
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
	p := &execProc{id: x.id, exited: make(chan int, 1)}
	if console != nil {
		r := <-got
		if r.err != nil {
			return nil, nil, nil, r.err
		}
		p.master = r.master
		resize(p.master, x.height, x.width)
		outputs[wire.FrameStdout] = p.master
		if stdin {
			in = &input{w: p.master}
		}
	}
	if p.pid, err = readPid(pidFile); err != nil {
		closeAll()
		return nil, nil, nil, wrap("exec", err)
	}
	s.mu.Lock()
	s.execs[x.id] = p
	s.execByPid[p.pid] = p
	if ws, ok := s.unclaimed[p.pid]; ok {
		delete(s.unclaimed, p.pid)
		delete(s.execByPid, p.pid)
		p.exited <- signals.ExitCode(ws)
	}
	s.mu.Unlock()
	s.watch(p.pid)
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
func (s *shim) resizeTerminal(req *request) error {
	s.mu.Lock()
	master := s.master
	if req.execID != "" {
		p, ok := s.execs[req.execID]
		if !ok {
			s.mu.Unlock()
			return errors.New("no such exec")
		}
		master = p.master
	}
	s.mu.Unlock()
	return resize(master, req.height, req.width)
}
