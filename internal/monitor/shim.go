package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berthproject/berth/internal/atomicfile"
	"github.com/berthproject/berth/internal/signals"

	"github.com/berthproject/berth/internal/logs/jsonfile"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Options configure one shim.
type Options struct {
	ID          string
	Bundle      string
	Runtime     string // path of a runc-compatible runtime
	RuntimeRoot string
	StateDir    string
	LogPath     string
	LogMaxSize  int64
	LogMaxFiles int
	// Socket is the control socket's path (default StateDir/shim.sock); unix socket paths are
	// limited to 108 bytes, so a caller with deep state dirs puts it somewhere shorter.
	Socket string
	// Stdio of the container, as its Config asks: a terminal (Tty), an input stream held open
	// for attachers (Stdin), closed after the first attacher's input ends (StdinOnce).
	Tty       bool
	Stdin     bool
	StdinOnce bool
	Height    uint16 // initial terminal size
	Width     uint16
	// Attachers is how many clients attach around the start (docker run and start -a attach
	// first): the output is held for them until they join, so none of it is lost.
	Attachers int
	// Cgroup is the container's cgroup path (the spec's cgroupsPath), read for OOM kills.
	Cgroup string
	// Ready is written to (one byte) and closed once the container runs, or has failed to
	// (exit.json then says why): the daemon waits on it instead of polling.
	Ready *os.File
	// Proceed, when given, carries the daemon's two go-aheads, a byte each: the bundle is
	// written (the runtime may run), then the network is set up (the container's init may
	// start). EOF instead means the daemon gave up the start. The shim starts up while the
	// daemon mounts the root filesystem and writes the bundle, the runtime while it sets up
	// the network.
	Proceed *os.File
	// RuntimeProceeds: the runtime is berth-runtime, which takes Proceed itself (--proceed-fd):
	// it is run at once, reads the spec after the first go-ahead and starts the container's
	// init after the second. Other runtimes are run after both.
	RuntimeProceeds bool
}

type shim struct {
	opts    Options
	mu      sync.Mutex
	pid     int
	exit    *Exit
	done    chan struct{}
	logger  *jsonfile.Writer
	copying sync.WaitGroup
	// reapMu keeps the reaper (wait4 on any child, as a subreaper must) from taking the exit
	// status of a runtime command that exec.Cmd is waiting for.
	reapMu  sync.Mutex
	sigchld chan os.Signal
	calls   atomic.Int32 // requests being answered
	hub     *hub
	stdin   *input   // the container's input, nil without -i
	master  *os.File // the container's terminal, nil without -t
	// execs by id and by pid; unclaimed exits wait for the exec being started (execStarting).
	execs        map[string]*execProc
	execByPid    map[int]*execProc
	unclaimed    map[int]unix.WaitStatus
	execStarting int
}

// Run is berth-shim's main: it returns when the container has exited and been recorded.
func Run(ctx context.Context, o Options) error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("become subreaper: %w", err)
	}
	if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
		return err
	}
	// Its pid and start time: a shim berthd started ahead of need has no container on its
	// command line to be told from a process that reused its pid.
	self := strconv.Itoa(os.Getpid())
	if start, err := ProcessStartTime(os.Getpid()); err == nil {
		self += " " + start
	}
	if err := atomicfile.WriteFileNoSync(filepath.Join(o.StateDir, PidFile), []byte(self), 0o600); err != nil {
		return err
	}
	if o.Socket == "" {
		o.Socket = filepath.Join(o.StateDir, SocketFile)
	}
	s := &shim{opts: o, done: make(chan struct{}), sigchld: make(chan os.Signal, 1), hub: newHub(o.Attachers),
		execs: map[string]*execProc{}, execByPid: map[int]*execProc{}, unclaimed: map[int]unix.WaitStatus{}}
	signal.Notify(s.sigchld, unix.SIGCHLD) // before any child exists, so no exit is missed
	l, err := listen(o.Socket)
	if err != nil {
		err = fmt.Errorf("shim socket: %w", err)
		s.finish(&Exit{Code: 128, FinishedAt: time.Now().UTC(), Error: err.Error()})
		return err
	}
	defer l.Close()
	defer os.Remove(o.Socket)
	go s.serve(l)
	if err := s.start(ctx); err != nil {
		s.finish(&Exit{Code: startFailureCode(err), FinishedAt: time.Now().UTC(), Error: err.Error()})
		s.signalReady()
		s.drainCalls()
		return err
	}
	s.signalReady()
	s.reap()
	l.Close() // no new callers: they read exit.json
	s.drainCalls()
	return nil
}

// drainCalls lets the requests in flight (a daemon waiting for the exit) get their answer
// before the shim goes; the exit record stays on disk for anyone later.
func (s *shim) drainCalls() {
	for deadline := time.Now().Add(5 * time.Second); s.calls.Load() > 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
}

// startFailureCode maps a runtime's refusal to Docker's exit codes: 127 when the command is not
// found, 126 when it cannot be executed.
func startFailureCode(err error) int { return signals.StartFailureCode(err.Error(), 128) }

func listen(path string) (net.Listener, error) {
	os.Remove(path)
	old := unix.Umask(0o177)
	l, err := net.Listen("unix", path)
	unix.Umask(old)
	return l, err
}

func (s *shim) runtime(args ...string) *exec.Cmd {
	return exec.Command(s.opts.Runtime, append([]string{"--root", s.opts.RuntimeRoot, "--log", s.runtimeLog(), "--log-format", "json"}, args...)...)
}

func (s *shim) runtimeLog() string { return filepath.Join(s.opts.StateDir, "runtime.log") }

// runtimeError is the last error the runtime logged, or fallback.
func (s *shim) runtimeError(fallback error) error {
	b, err := os.ReadFile(s.runtimeLog())
	if err != nil {
		return fallback
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		var entry struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
		}
		if json.Unmarshal([]byte(lines[i]), &entry) == nil && entry.Level == "error" && entry.Msg != "" {
			return fmt.Errorf("%s", entry.Msg)
		}
	}
	return fallback
}

// start creates and starts the container with pipes (or a terminal) for its stdio.
func (s *shim) start(ctx context.Context) error {
	logger, err := jsonfile.Open(s.opts.LogPath, s.opts.LogMaxSize, s.opts.LogMaxFiles)
	if err != nil {
		return err
	}
	s.logger = logger
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer devnull.Close()
	pidFile := filepath.Join(s.opts.StateDir, InitPid)
	// One runtime call creates and starts (run --detach): nothing needs to happen between the
	// two, since output is held for the attachers (see hub).
	args := []string{"run", "--detach", "--bundle", s.opts.Bundle, "--pid-file", pidFile}
	runtimeProceeds := s.opts.Proceed != nil && s.opts.RuntimeProceeds
	if runtimeProceeds {
		args = append(args, "--proceed-fd", "3") // the first of ExtraFiles
	}
	var console *consoleListener
	if s.opts.Tty {
		if console, err = listenConsole(s.consolePath("")); err != nil {
			return err
		}
		defer console.Close()
		args = append(args, "--console-socket", console.path)
	}
	// The runtime hands its stdio to the container: only *os.File here, so that no copying
	// goroutine waits on the container's output to finish (exec.Cmd would wait for EOF).
	run := s.runtime(append(args, s.opts.ID)...)
	run.Stdin, run.Stdout, run.Stderr = devnull, devnull, devnull
	outputs := map[byte]*os.File{}
	var stdio *processStdio
	if !s.opts.Tty {
		if stdio, err = pipeStdio(run, s.opts.Stdin); err != nil {
			return err
		}
		outputs, s.stdin = stdio.outputs, stdio.in
	}
	if runtimeProceeds {
		run.ExtraFiles = []*os.File{s.opts.Proceed} // both go-aheads are the runtime's
		defer s.opts.Proceed.Close()
	} else if s.opts.Proceed != nil {
		defer s.opts.Proceed.Close()
		for range 2 { // the bundle, the network
			if err := awaitGoAhead(s.opts.Proceed); err != nil {
				return err
			}
		}
	}
	var got <-chan received
	if console != nil {
		got = console.receiveAsync(60 * time.Second)
	}
	runErr := s.run(run)
	if stdio != nil {
		stdio.closeChildEnds()
	}
	if runErr == nil && console != nil {
		r := <-got
		if err = r.err; err == nil {
			s.mu.Lock()
			s.master = r.master
			s.mu.Unlock()
			resize(r.master, s.opts.Height, s.opts.Width)
			outputs[FrameStdout] = r.master
			if s.opts.Stdin {
				s.stdin = &input{w: r.master}
			}
		} else {
			s.run(s.runtime("delete", "--force", s.opts.ID))
		}
	}
	for stream, r := range outputs {
		name := "stdout"
		if stream == FrameStderr {
			name = "stderr"
		}
		s.copying.Add(1)
		go s.copy(r, logger.Stream(name), stream)
	}
	if runErr != nil {
		err := s.runtimeError(runErr)                    // read before delete logs its own
		s.run(s.runtime("delete", "--force", s.opts.ID)) // whatever a failed run left
		return err
	}
	if err != nil {
		return err
	}
	pid, err := readPid(pidFile)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.pid = pid
	s.mu.Unlock()
	return nil
}

// awaitGoAhead reads one of the daemon's go-aheads (see Options.Proceed).
func awaitGoAhead(proceed *os.File) error {
	if n, _ := proceed.Read(make([]byte, 1)); n != 1 {
		return errors.New("the daemon cancelled the start")
	}
	return nil
}

// signalReady tells the daemon, once, that the start is decided.
func (s *shim) signalReady() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.Ready != nil {
		s.opts.Ready.Write([]byte{1})
		s.opts.Ready.Close()
		s.opts.Ready = nil
	}
}

func (s *shim) copy(r *os.File, w *jsonfile.StreamWriter, stream byte) {
	defer s.copying.Done()
	pump(r, w, s.hub, stream)
	w.Flush()
	if r != s.master { // the terminal is closed when the container has gone
		r.Close()
	}
}

// run runs a runtime command to completion without the reaper interfering.
func (s *shim) run(cmd *exec.Cmd) error {
	s.reapMu.Lock()
	defer s.reapMu.Unlock()
	return cmd.Run()
}

// reap collects every child that exits (orphans are ours as a subreaper, execs are our
// children) until the container's init has, and the execs it took with it.
func (s *shim) reap() {
	s.mu.Lock()
	initPid := s.pid
	s.mu.Unlock()
	var initStatus unix.WaitStatus
	var initExited time.Time
	for {
		noChildren := false
		s.reapMu.Lock()
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if err == unix.EINTR {
				continue
			}
			if pid <= 0 || err != nil {
				noChildren = err == unix.ECHILD
				break
			}
			if pid == initPid {
				initStatus, initExited = ws, time.Now()
			} else {
				s.childExited(pid, ws)
			}
		}
		s.reapMu.Unlock()
		if !initExited.IsZero() && (noChildren || s.pendingExecs() == 0 || time.Since(initExited) > 2*time.Second) {
			break
		}
		if noChildren && initExited.IsZero() {
			break // init was reaped by someone else: nothing more will come
		}
		wait := time.Second // a missed signal costs a second, not a hang
		if !initExited.IsZero() {
			wait = 50 * time.Millisecond
		}
		select {
		case <-s.sigchld:
		case <-time.After(wait):
		}
	}
	s.endExecs()
	ws := initStatus
	e := &Exit{Code: signals.ExitCode(ws), FinishedAt: time.Now().UTC(), OOMKilled: s.oomKilled()}
	// The runtime deletes the container (its cgroup, its state, any process left when init
	// shares the host's pid namespace) while the output drains and the exit is reported: the
	// daemon's removal of the container waits for this shim to be gone, so for the delete.
	deleted := make(chan struct{})
	go func() {
		s.run(s.runtime("delete", "--force", s.opts.ID))
		close(deleted)
	}()
	if s.stdin != nil {
		s.stdin.Close()
	}
	// Output may still arrive from processes that outlived init (until they die with the
	// pid namespace): give it a moment, not forever.
	copied := make(chan struct{})
	go func() { s.copying.Wait(); close(copied) }()
	select {
	case <-copied:
	case <-time.After(2 * time.Second):
	}
	s.hub.awaitJoined(5 * time.Second) // a container quicker than its attachers keeps its output for them
	s.hub.closeAll()
	if s.master != nil {
		s.master.Close()
	}
	// Reported whether or not the delete is done: the daemon (and a `run --rm` waiting on it)
	// has its own work to do meanwhile. A new start of this container waits for this shim to
	// be gone.
	s.finish(e)
	<-deleted
}

// oomKilled reads the container's memory cgroup for OOM kills (before delete removes it).
func (s *shim) oomKilled() bool {
	path := s.opts.Cgroup
	if path == "" { // not given: read it from the spec (a large file, hence the option)
		b, err := os.ReadFile(filepath.Join(s.opts.Bundle, "config.json"))
		if err != nil {
			return false
		}
		var spec specs.Spec
		if json.Unmarshal(b, &spec) != nil || spec.Linux == nil {
			return false
		}
		if path = spec.Linux.CgroupsPath; path == "" {
			path = "/berth/" + s.opts.ID
		}
	}
	for _, f := range []string{
		filepath.Join("/sys/fs/cgroup/memory", path, "memory.oom_control"), // v1
		filepath.Join("/sys/fs/cgroup", path, "memory.events"),             // v2
	} {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if n, ok := strings.CutPrefix(line, "oom_kill "); ok && strings.TrimSpace(n) != "0" {
				return true
			}
		}
	}
	return false
}

func (s *shim) finish(e *Exit) {
	b, _ := json.Marshal(e)
	// Under the exec root (tmpfs on a usual host): it must survive the daemon, not the machine.
	atomicfile.WriteFileNoSync(filepath.Join(s.opts.StateDir, ExitFile), b, 0o600)
	if s.logger != nil {
		s.logger.Close()
	}
	s.mu.Lock()
	s.exit = e
	s.mu.Unlock()
	close(s.done)
}

func (s *shim) serve(l net.Listener) {
	for {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		s.calls.Add(1)
		go func() {
			defer s.calls.Add(-1)
			s.handle(conn)
		}()
	}
}

func (s *shim) handle(conn net.Conn) {
	defer conn.Close()
	var req Request
	dec := json.NewDecoder(conn)
	if err := dec.Decode(&req); err != nil {
		return
	}
	reply := func(r Reply) { json.NewEncoder(conn).Encode(r) }
	state := func() Reply {
		s.mu.Lock()
		defer s.mu.Unlock()
		return Reply{Pid: s.pid, Running: s.exit == nil && s.pid > 0, Exit: s.exit}
	}
	switch req.Op {
	case "state":
		reply(state())
	case "wait":
		<-s.done
		reply(state())
	case "kill":
		args := []string{"kill"}
		if req.All {
			args = append(args, "--all")
		}
		sig := req.Signal
		if sig == 0 {
			sig = int(unix.SIGTERM)
		}
		if req.ExecID != "" {
			if err := s.killExec(req.ExecID, sig); err != nil {
				r := state()
				r.Error = err.Error()
				reply(r)
				return
			}
			reply(state())
			return
		}
		args = append(args, s.opts.ID, strconv.Itoa(sig))
		if err := s.run(s.runtime(args...)); err != nil {
			r := state()
			r.Error = s.runtimeError(err).Error()
			reply(r)
			return
		}
		reply(state())
	case "attach":
		s.attach(dec, conn, req)
	case "exec":
		s.handleExec(dec, conn, req)
	case "resize":
		if err := s.resizeTerminal(req); err != nil {
			reply(Reply{Error: err.Error()})
			return
		}
		reply(state())
	default:
		reply(Reply{Error: fmt.Sprintf("unknown operation %q", req.Op)})
	}
}

// attach streams the container's output to conn until the container ends or the client leaves,
// and the client's input (when it sends some) to the container.
func (s *shim) attach(dec *json.Decoder, conn net.Conn, req Request) {
	a := &attacher{conn: conn, stdout: req.Stdout, stderr: req.Stderr, gone: make(chan struct{})}
	s.mu.Lock()
	ended := s.exit != nil
	s.mu.Unlock()
	if ended {
		return
	}
	s.hub.add(a)
	defer s.hub.remove(a)
	go func() {
		if req.Stdin {
			if s.stdin == nil { // the container takes no input (no -i): drop it
				io.Copy(io.Discard, io.MultiReader(dec.Buffered(), conn))
				return
			}
			streamInput(dec, conn, s.stdin)
			if s.opts.StdinOnce {
				s.stdin.Close()
			}
			return // a half-close ends the input, not the attachment
		}
		// Without input, the client's end of the connection is its leaving.
		io.Copy(io.Discard, io.MultiReader(dec.Buffered(), conn))
		s.hub.remove(a)
	}()
	select {
	case <-a.gone:
	case <-s.done:
	}
}
