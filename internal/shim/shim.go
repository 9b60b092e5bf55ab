// Package shim is berth-shim: the small process that is the parent of one container. It runs
// the OCI runtime's create and start, owns the container's stdio and writes it to the json-file
// log, reaps the container (as a subreaper, grandchildren too), records how it exited, and
// answers the daemon on a unix socket (internal/monitor is the daemon's side of it).
//
// One shim runs per running container, so its memory counts many times over. It keeps to
// packages that link neither reflect nor net (no encoding/json, fmt, net, os/exec, os/signal:
// the loaded segments of the binary are resident in every shim), and every descriptor it waits
// on (sockets, pipes, terminals, pidfds of its children) is nonblocking and waited on by the Go
// runtime's poller, so that no goroutine parks an OS thread (each costs its stacks in every shim).
package shim

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berthproject/berth/internal/atomicfile"
	"github.com/berthproject/berth/internal/jsonlite"
	"github.com/berthproject/berth/internal/logs/jsonfile"
	"github.com/berthproject/berth/internal/monitor/wire"
	"github.com/berthproject/berth/internal/procstat"
	"github.com/berthproject/berth/internal/signals"
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
	// (exit.json then says why): the daemon waits on it instead of polling. A container that
	// runs has its init's pid written after the byte, in decimal, which spares the daemon a
	// state request.
	Ready *os.File
	// Proceed, when given, carries the daemon's three go-aheads, a byte each: the bundle is
	// written (the runtime may run), the network namespace and the files the init mounts are
	// made (the container's init may start), the network is up (the container's process may
	// start). EOF instead means the daemon gave up the start. The shim starts up while the
	// daemon mounts the root filesystem and writes the bundle, the runtime while it makes the
	// namespace, the init while it sets up the network.
	Proceed *os.File
	// RuntimeProceeds: the runtime is berth-runtime, which takes Proceed itself (--proceed-fd):
	// it is run at once, reads the spec after the first go-ahead, starts the container's init
	// after the second and lets it start the process after the third. Other runtimes are run
	// after all three.
	RuntimeProceeds bool
	// RuntimeAhead, when given, is a runtime started before this shim had its container: the
	// first runtime command (run) goes to it when it is Runtime and RuntimeProceeds.
	RuntimeAhead *RuntimeAhead
}

// exit is how the container ended (monitor.Exit on the daemon's side).
type exit struct {
	code       int
	oomKilled  bool
	finishedAt time.Time
	err        string // the container never started: why
}

type shim struct {
	opts    Options
	mu      sync.Mutex
	pid     int
	exit    *exit
	done    chan struct{}
	logger  *jsonfile.Writer
	copying sync.WaitGroup
	// reapMu keeps the reaper (wait4 on any child, as a subreaper must) from taking the exit
	// status of a runtime command that run is waiting for.
	reapMu sync.Mutex
	wake   chan struct{} // a child the reaper watches has exited (see watch)
	calls  atomic.Int32  // requests being answered
	hub    *hub
	stdin  *input   // the container's input, nil without -i
	master *os.File // the container's terminal, nil without -t
	// execs by id and by pid; unclaimed exits wait for the exec being started (execStarting).
	execs        map[string]*execProc
	execByPid    map[int]*execProc
	unclaimed    map[int]unix.WaitStatus
	execStarting int
}

// Run is berth-shim's main: it returns when the container has exited and been recorded.
func Run(o Options) error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return wrap("become subreaper", err)
	}
	if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
		return err
	}
	// Its pid and start time: a shim berthd started ahead of need has no container on its
	// command line to be told from a process that reused its pid.
	self := strconv.Itoa(os.Getpid())
	if start, _, err := procstat.Stat(os.Getpid()); err == nil {
		self += " " + strconv.FormatUint(start, 10)
	}
	if err := atomicfile.WriteFileNoSync(filepath.Join(o.StateDir, wire.PidFile), []byte(self), 0o600); err != nil {
		return err
	}
	if o.Socket == "" {
		o.Socket = filepath.Join(o.StateDir, wire.SocketFile)
	}
	s := &shim{opts: o, done: make(chan struct{}), wake: make(chan struct{}, 1), hub: newHub(o.Attachers),
		execs: map[string]*execProc{}, execByPid: map[int]*execProc{}, unclaimed: map[int]unix.WaitStatus{}}
	l, err := listenUnix(o.Socket)
	if err != nil {
		err = wrap("shim socket", err)
		s.finish(&exit{code: 128, finishedAt: time.Now().UTC(), err: err.Error()})
		return err
	}
	// The path goes before the listener closes (as net.UnixListener does it): a caller then finds
	// no socket, and reads exit.json, rather than a socket that refuses it.
	var stopped sync.Once
	stopListening := func() {
		stopped.Do(func() {
			os.Remove(o.Socket)
			l.Close()
		})
	}
	defer stopListening()
	go s.serve(l)
	err = s.start()
	if s.opts.RuntimeAhead != nil { // the start failed before running the runtime
		s.opts.RuntimeAhead.Discard()
		s.opts.RuntimeAhead = nil
	}
	if err != nil {
		s.finish(&exit{code: startFailureCode(err), finishedAt: time.Now().UTC(), err: err.Error()})
		s.signalReady(0)
		s.drainCalls()
		return err
	}
	s.mu.Lock()
	pid := s.pid
	s.mu.Unlock()
	s.signalReady(pid)
	s.reap()
	stopListening() // no new callers: they read exit.json
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

func (s *shim) runtime(args ...string) *command {
	return &command{args: append([]string{s.opts.Runtime, "--root", s.opts.RuntimeRoot, "--log", s.runtimeLog(), "--log-format", "json"}, args...)}
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
		var level, msg string
		err := jsonlite.Members([]byte(lines[i]), func(k string, v []byte) (err error) {
			switch k {
			case "level":
				level, err = jsonlite.String(v)
			case "msg":
				msg, err = jsonlite.String(v)
			}
			return err
		})
		if err == nil && level == "error" && msg != "" {
			return errors.New(msg)
		}
	}
	return fallback
}

// start creates and starts the container with pipes (or a terminal) for its stdio.
func (s *shim) start() error {
	logger, err := jsonfile.Open(s.opts.LogPath, s.opts.LogMaxSize, s.opts.LogMaxFiles)
	if err != nil {
		return err
	}
	s.logger = logger
	pidFile := filepath.Join(s.opts.StateDir, wire.InitPid)
	// One runtime call creates and starts (run --detach): nothing needs to happen between the
	// two, since output is held for the attachers (see hub).
	args := []string{"run", "--detach", "--bundle", s.opts.Bundle, "--pid-file", pidFile}
	runtimeProceeds := s.opts.Proceed != nil && s.opts.RuntimeProceeds
	if runtimeProceeds {
		args = append(args, "--proceed-fd", "3") // the first of extraFiles
	}
	var console *consoleListener
	if s.opts.Tty {
		if console, err = listenConsole(s.consolePath("")); err != nil {
			return err
		}
		defer console.Close()
		args = append(args, "--console-socket", console.path)
	}
	// The runtime hands its stdio to the container (the rest is /dev/null).
	run := s.runtime(append(args, s.opts.ID)...)
	outputs := map[byte]*os.File{}
	var stdio *processStdio
	if !s.opts.Tty {
		if stdio, err = pipeStdio(run, s.opts.Stdin); err != nil {
			return err
		}
		outputs, s.stdin = stdio.outputs, stdio.in
	}
	if runtimeProceeds {
		run.extraFiles = []*os.File{s.opts.Proceed} // the go-aheads are the runtime's
		defer s.opts.Proceed.Close()
	} else if s.opts.Proceed != nil {
		defer s.opts.Proceed.Close()
		for range 3 { // the bundle, the namespace, the network
			if err := awaitGoAhead(s.opts.Proceed); err != nil {
				return err
			}
		}
	}
	var got <-chan received
	if console != nil {
		got = console.receiveAsync(60 * time.Second)
	}
	runErr := s.runFirst(run)
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
			outputs[wire.FrameStdout] = r.master
			if s.opts.Stdin {
				s.stdin = &input{w: r.master}
			}
		} else {
			s.run(s.runtime("delete", "--force", s.opts.ID))
		}
	}
	for stream, r := range outputs {
		name := "stdout"
		if stream == wire.FrameStderr {
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
	s.watch(pid)
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
// signalReady tells the daemon the start is decided: pid is the container's init, 0 after a
// failure.
func (s *shim) signalReady(pid int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.Ready != nil {
		msg := []byte{1}
		if pid > 0 {
			msg = strconv.AppendInt(msg, int64(pid), 10)
		}
		s.opts.Ready.Write(msg)
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

// runFirst runs the runtime's first command through RuntimeAhead when that is the runtime.
func (s *shim) runFirst(cmd *command) error {
	a := s.opts.RuntimeAhead
	s.opts.RuntimeAhead = nil
	if a == nil {
		return s.run(cmd)
	}
	s.reapMu.Lock()
	defer s.reapMu.Unlock()
	if a.Path == s.opts.Runtime && s.opts.RuntimeProceeds {
		if given, err := a.run(cmd); given {
			return err
		}
	} else {
		a.Discard()
	}
	return cmd.run()
}

// run runs a runtime command to completion without the reaper interfering.
func (s *shim) run(cmd *command) error {
	s.reapMu.Lock()
	defer s.reapMu.Unlock()
	return cmd.run()
}

// watch wakes the reaper when the child pid exits.
func (s *shim) watch(pid int) {
	go func() {
		awaitExit(pid)
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}()
}

// reap collects every child that exits (orphans are ours as a subreaper, execs are our
// children) until the container's init has, and the execs it took with it.
func (s *shim) reap() {
	s.mu.Lock()
	initPid := s.pid
	s.mu.Unlock()
	var initStatus unix.WaitStatus
	var initExited time.Time
	timer := time.NewTimer(time.Hour)
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
		// The init and the execs are watched (pidfds); other orphans are only reaped in passing,
		// and without pidfds (kernels before 5.10) every exit is found by polling.
		wait := 30 * time.Second
		if noPidfd.Load() {
			wait = time.Second
		}
		if !initExited.IsZero() {
			wait = 50 * time.Millisecond
		}
		timer.Reset(wait)
		select {
		case <-s.wake:
		case <-timer.C:
		}
	}
	timer.Stop()
	s.endExecs()
	ws := initStatus
	e := &exit{code: signals.ExitCode(ws), finishedAt: time.Now().UTC(), oomKilled: s.oomKilled()}
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
	// Reported before the runtime deletes the container: the daemon (and a `run --rm` waiting on
	// it) need not wait for that (a process start, milliseconds, during which this shim, with
	// one P, would run little else). A new start of this container waits for this shim to be
	// gone; a removal removes the container's cgroup itself when it is empty, or waits too.
	s.finish(e)
	s.run(s.runtime("delete", "--force", s.opts.ID))
}

// oomKilled reads the container's memory cgroup for OOM kills (before delete removes it).
func (s *shim) oomKilled() bool {
	path := s.opts.Cgroup
	if path == "" { // not given: read it from the spec (a large file, hence the option)
		b, err := os.ReadFile(filepath.Join(s.opts.Bundle, "config.json"))
		if err != nil {
			return false
		}
		path = specCgroupsPath(b)
		if path == "" {
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

// specCgroupsPath is an OCI spec's linux.cgroupsPath ("" when it has none).
func specCgroupsPath(spec []byte) (path string) {
	jsonlite.Members(spec, func(k string, v []byte) error {
		if k == "linux" && len(v) > 0 && v[0] == '{' {
			jsonlite.Members(v, func(k string, v []byte) (err error) {
				if k == "cgroupsPath" {
					path, err = jsonlite.String(v)
				}
				return err
			})
		}
		return nil
	})
	return path
}

func (s *shim) finish(e *exit) {
	// Under the exec root (tmpfs on a usual host): it must survive the daemon, not the machine.
	atomicfile.WriteFileNoSync(filepath.Join(s.opts.StateDir, wire.ExitFile), e.json(), 0o600)
	if s.logger != nil {
		s.logger.Close()
	}
	s.mu.Lock()
	s.exit = e
	s.mu.Unlock()
	close(s.done)
}

// json is the exit record as monitor.Exit reads it.
func (e *exit) json() []byte {
	o := jsonlite.NewObject(nil).Int("exit_code", e.code).Bool("oom_killed", e.oomKilled).Time("finished_at", e.finishedAt)
	if e.err != "" {
		o.String("error", e.err)
	}
	return o.Bytes()
}

func (s *shim) serve(l *os.File) {
	for {
		conn, err := accept(l)
		if err != nil {
			if errors.Is(err, unix.ECONNABORTED) || errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return
		}
		s.calls.Add(1)
		go func() {
			defer s.calls.Add(-1)
			s.handle(conn)
		}()
	}
}

// reply answers a request (monitor.Reply on the daemon's side).
type reply struct {
	pid     int
	running bool
	exit    *exit
	err     string
}

func (r reply) json() []byte {
	o := jsonlite.NewObject(nil)
	if r.pid != 0 {
		o.Int("pid", r.pid)
	}
	o.Bool("running", r.running)
	if r.exit != nil {
		o.Raw("exit", r.exit.json())
	}
	if r.err != "" {
		o.String("error", r.err)
	}
	return append(o.Bytes(), '\n')
}

func (s *shim) handle(conn *os.File) {
	defer conn.Close()
	// Small: a request is a few hundred bytes, and a "wait" holds its reader for the container's life.
	in := bufio.NewReaderSize(conn, 512)
	raw, err := jsonlite.ReadValue(in)
	if err != nil {
		return
	}
	req, err := parseRequest(raw)
	if err != nil {
		return
	}
	answer := func(r reply) { conn.Write(r.json()) }
	state := func() reply {
		s.mu.Lock()
		defer s.mu.Unlock()
		return reply{pid: s.pid, running: s.exit == nil && s.pid > 0, exit: s.exit}
	}
	switch req.op {
	case "state":
		answer(state())
	case "wait":
		<-s.done
		answer(state())
	case "kill":
		args := []string{"kill"}
		if req.all {
			args = append(args, "--all")
		}
		sig := req.signal
		if sig == 0 {
			sig = int(unix.SIGTERM)
		}
		if req.execID != "" {
			if err := s.killExec(req.execID, sig); err != nil {
				r := state()
				r.err = err.Error()
				answer(r)
				return
			}
			answer(state())
			return
		}
		args = append(args, s.opts.ID, strconv.Itoa(sig))
		if err := s.run(s.runtime(args...)); err != nil {
			r := state()
			r.err = s.runtimeError(err).Error()
			answer(r)
			return
		}
		answer(state())
	case "attach":
		s.attach(in, conn, req)
	case "exec":
		s.handleExec(in, conn, req)
	case "resize":
		if err := s.resizeTerminal(req); err != nil {
			answer(reply{err: err.Error()})
			return
		}
		answer(state())
	default:
		answer(reply{err: "unknown operation " + strconv.Quote(req.op)})
	}
}

// attach streams the container's output to conn until the container ends or the client leaves,
// and the client's input (when it sends some) to the container. in is the connection after
// the request.
func (s *shim) attach(in io.Reader, conn *os.File, req *request) {
	a := &attacher{conn: conn, stdout: req.stdout, stderr: req.stderr, gone: make(chan struct{})}
	s.mu.Lock()
	ended := s.exit != nil
	s.mu.Unlock()
	if ended {
		return
	}
	s.hub.add(a)
	defer s.hub.remove(a)
	go func() {
		if req.stdin {
			if s.stdin == nil { // the container takes no input (no -i): drop it
				copyInput(io.Discard, in)
				return
			}
			copyInput(s.stdin, in)
			if s.opts.StdinOnce {
				s.stdin.Close()
			}
			return // a half-close ends the input, not the attachment
		}
		// Without input, the client's end of the connection is its leaving.
		copyInput(io.Discard, in)
		s.hub.remove(a)
	}()
	select {
	case <-a.gone:
	case <-s.done:
	}
}

// wrapped is an error with what was being done.
type wrapped struct {
	doing string
	err   error
}

func (w *wrapped) Error() string { return w.doing + ": " + w.err.Error() }
func (w *wrapped) Unwrap() error { return w.err }

func wrap(doing string, err error) error { return &wrapped{doing, err} }
