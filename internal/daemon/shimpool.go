package daemon

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/berthproject/berth/internal/pidfd"
	"github.com/berthproject/berth/internal/schedprio"
)

// A shim is started ahead of need and waits for its container: a start takes it and gives it
// its arguments, instead of waiting for a process to be exec'd and its Go runtime to start
// (milliseconds, on the path of every start). One waits at a time; a start that finds none
// starts one as before. A waiting shim reads its arguments from a pipe: when berthd stops, or
// dies, the pipe ends and the shim exits without having done anything.

// spawnedShim is a berth-shim waiting for its arguments.
type spawnedShim struct {
	args     *os.File      // the arguments, NUL-separated, then EOF
	proceedW *os.File      // the go-aheads (see monitor.Options.Proceed)
	ready    chan struct{} // closed when the start is decided (or the shim died)
	pid      int           // the container's init, when the shim said it runs (read after ready)
	done     chan struct{} // closed when the shim has exited (berthd reaps its direct children)
}

// spawnShim starts a shim that waits for its arguments on fd 5; fd 3 is its ready pipe and fd 4
// its go-aheads. With runtimeAhead (berth-runtime's path), the shim starts that runtime ahead
// of need too; idle starts it at idle priority (a shim for the pool, not for a start waiting).
func spawnShim(path, runtimeAhead string, idle bool) (*spawnedShim, error) {
	var files []*os.File // the shim's ends, closed here once it has them
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	files = append(files, readyW)
	proceedR, proceedW, err := os.Pipe()
	if err != nil {
		readyR.Close()
		return nil, err
	}
	files = append(files, proceedR)
	argsR, argsW, err := os.Pipe()
	if err != nil {
		readyR.Close()
		proceedW.Close()
		return nil, err
	}
	files = append(files, argsR)
	cmd := exec.Command(path, "--args-fd", "5")
	if runtimeAhead != "" {
		cmd.Args = append(cmd.Args, "--runtime-ahead", runtimeAhead)
	}
	cmd.ExtraFiles = []*os.File{readyW, proceedR, argsR}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // its own session: it outlives berthd
	// One P: a shim mostly waits, and every P costs memory in every shim.
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	if idle {
		// It starts up and readies its runtime at idle priority, then waits at the normal one.
		schedprio.StartIdle(func() { err = cmd.Start() })
	} else {
		err = cmd.Start()
	}
	if err != nil {
		readyR.Close()
		proceedW.Close()
		argsW.Close()
		return nil, fmt.Errorf("start berth-shim: %w", err)
	}
	s := &spawnedShim{args: argsW, proceedW: proceedW, ready: make(chan struct{}), done: make(chan struct{})}
	go func() { // a byte when the start is decided, or EOF if the shim dies first
		// A byte, then the init's pid when the container runs (see shim.Options.Ready).
		if msg, _ := io.ReadAll(io.LimitReader(readyR, 32)); len(msg) > 1 {
			s.pid, _ = strconv.Atoi(string(msg[1:]))
		}
		readyR.Close()
		close(s.ready)
	}()
	go func() { // berthd reaps its direct children; the shim reaps the container
		pidfd.AwaitExit(cmd.Process.Pid) // in the poller: cmd.Wait alone would hold a thread per shim
		cmd.Wait()
		close(s.done)
	}()
	return s, nil
}

// assign gives the shim its arguments: from then on it is that container's.
func (s *spawnedShim) assign(args []string) error {
	_, err := s.args.WriteString(strings.Join(args, "\x00"))
	if cerr := s.args.Close(); err == nil {
		err = cerr
	}
	return err
}

// bundleWritten lets the shim run the runtime (the first go-ahead).
func (s *spawnedShim) bundleWritten() { s.proceedW.Write([]byte{1}) }

// namespaceReady lets the runtime start the container's init (the second).
func (s *spawnedShim) namespaceReady() { s.proceedW.Write([]byte{1}) }

// networkReady lets the init run the container's process (the third).
func (s *spawnedShim) networkReady() {
	s.proceedW.Write([]byte{1})
	s.proceedW.Close()
}

// discard ends a shim given no container, or one whose container's start is given up before
// its process was started: it (or the runtime) reads EOF, undoes what it made and exits.
func (s *spawnedShim) discard() {
	s.args.Close()
	s.proceedW.Close()
	<-s.done
}

// shimPool holds the shim started ahead of need.
type shimPool struct {
	path string
	// runtimeAhead is the default runtime when it is berth-runtime, which the waiting shim
	// starts ahead of need as well (see berth-runtime --args-fd).
	runtimeAhead string
	mu           sync.Mutex
	idle         *spawnedShim
	closed       bool
}

// take returns the waiting shim, or a new one if none waits. The caller refills the pool once
// its start is done: a shim started meanwhile would take the processor from it.
func (p *shimPool) take() (s *spawnedShim, ahead bool, err error) {
	p.mu.Lock()
	s = p.idle
	p.idle = nil
	p.mu.Unlock()
	if s != nil {
		return s, true, nil
	}
	s, err = spawnShim(p.path, p.runtimeAhead, false)
	return s, false, err
}

// refill starts a shim to wait, unless one already waits.
func (p *shimPool) refill() {
	p.mu.Lock()
	waiting := p.closed || p.idle != nil
	p.mu.Unlock()
	if waiting {
		return
	}
	s, err := spawnShim(p.path, p.runtimeAhead, true)
	if err != nil {
		return // the next start starts its own, and says why if it fails too
	}
	p.mu.Lock()
	keep := !p.closed && p.idle == nil
	if keep {
		p.idle = s
	}
	p.mu.Unlock()
	if !keep {
		s.discard()
	}
}

// close ends the waiting shim; shims started meanwhile end themselves in refill.
func (p *shimPool) close() {
	p.mu.Lock()
	p.closed = true
	s := p.idle
	p.idle = nil
	p.mu.Unlock()
	if s != nil {
		s.discard()
	}
}
