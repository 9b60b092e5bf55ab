package libct

import (
	"context"
	"github.com/berthproject/berth/internal/signals"
	"io"
	"os"
	"os/signal"

	"golang.org/x/sys/unix"
)

// Foreground runs a process the caller waits for: `run` without --detach and `exec` without
// --detach. It forwards signals, relays a terminal if the process has one, and returns the exit.
type Foreground struct {
	Terminal bool
	sock     *os.File // our end of the console socket pair
	sigs     chan os.Signal
}

// forwarded are the signals relayed to the process. Not all signals: asking Go for every signal
// costs milliseconds of sigaction calls on each start and stop, and the rest are either
// synchronous faults or job control that belongs to the caller's terminal.
var forwarded = []os.Signal{unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGTERM, unix.SIGUSR1,
	unix.SIGUSR2, unix.SIGWINCH, unix.SIGALRM, unix.SIGCONT, unix.SIGPWR}

// catch starts queueing forwardable signals; call it before the process exists so none is lost.
func (f *Foreground) catch() {
	f.sigs = make(chan os.Signal, 32)
	signal.Notify(f.sigs, forwarded...)
}

// console returns the socket end to hand to Create or Exec as their console when Terminal is set.
func (f *Foreground) console() (*os.File, error) {
	if !f.Terminal {
		return nil, nil
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f.sock = os.NewFile(uintptr(fds[0]), "console-recv")
	return os.NewFile(uintptr(fds[1]), "console-send"), nil
}

// wait relays the terminal (if any) and signals until pid exits.
func (f *Foreground) wait(pid int) (int, error) {
	sigs := f.sigs
	defer signal.Stop(sigs)
	var restore func()
	if f.sock != nil {
		master, err := RecvConsole(f.sock)
		f.sock.Close()
		if err != nil {
			unix.Kill(pid, unix.SIGKILL)
			return 0, err
		}
		defer master.Close()
		restore = makeRaw(os.Stdin)
		resize(master)
		go io.Copy(master, os.Stdin)
		go io.Copy(os.Stdout, master)
		defer func() {
			if restore != nil {
				restore()
			}
		}()
		go func() {
			for s := range sigs {
				if s == unix.SIGWINCH {
					resize(master)
					continue
				}
				forward(pid, s)
			}
		}()
	} else {
		go func() {
			for s := range sigs {
				forward(pid, s)
			}
		}()
	}
	for {
		var ws unix.WaitStatus
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		return signals.ExitCode(ws), nil
	}
}

func forward(pid int, s os.Signal) {
	sig, ok := s.(unix.Signal)
	if !ok || sig == unix.SIGCHLD || sig == unix.SIGURG || sig == unix.SIGPIPE {
		return // SIGURG is Go's preemption signal, SIGCHLD is ours
	}
	unix.Kill(pid, sig)
}

func makeRaw(f *os.File) func() {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil
	}
	raw := *old
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
	if unix.IoctlSetTermios(fd, unix.TCSETS, &raw) != nil {
		return nil
	}
	return func() { unix.IoctlSetTermios(fd, unix.TCSETS, old) }
}

func resize(master *os.File) {
	if ws, err := unix.IoctlGetWinsize(int(os.Stdin.Fd()), unix.TIOCGWINSZ); err == nil {
		unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, ws)
	}
}

// Run creates and starts a container and, unless detached, waits for it and deletes it,
// returning its exit code.
func (r *Runtime) Run(ctx context.Context, o CreateOpts, detach bool) (int, error) {
	o.sealed = sealedInit()
	defer o.sealed.release()
	fg := &Foreground{}
	caught := make(chan struct{})
	if !detach {
		// Asking for signals (a sigaction each) overlaps with reading the spec; it is done
		// before the container's process exists.
		go func() {
			fg.catch()
			close(caught)
		}()
	} else {
		close(caught)
	}
	if !detach && o.ConsoleSocket == "" {
		if err := r.awaitBundle(&o); err != nil {
			return 0, err
		}
		spec, raw, err := loadSpecJSON(o.Bundle)
		if err != nil {
			return 0, err
		}
		o.spec, o.specJSON = spec, raw
		fg.Terminal = spec.Process != nil && spec.Process.Terminal
		c, err := fg.console()
		if err != nil {
			return 0, err
		}
		if c != nil {
			defer c.Close()
			o.console = c
		}
	}
	<-caught
	st, err := r.Create(ctx, o)
	if err != nil {
		if fg.sigs != nil {
			signal.Stop(fg.sigs)
		}
		return 0, err
	}
	if err := r.start(ctx, st); err != nil {
		if fg.sigs != nil {
			signal.Stop(fg.sigs)
		}
		r.delete(ctx, st, true)
		return 0, err
	}
	r.debug("started")
	if detach {
		return 0, nil
	}
	code, err := fg.wait(st.Pid)
	r.debug("exited")
	if derr := r.delete(ctx, st, true); err == nil {
		err = derr
	}
	return code, err
}

// ExecForeground runs Exec and waits for the process, relaying its terminal and signals.
func (r *Runtime) ExecForeground(ctx context.Context, id string, o ExecOpts) (int, error) {
	fg := &Foreground{Terminal: o.Process.Terminal && o.ConsoleSocket == ""}
	fg.catch()
	c, err := fg.console()
	if err != nil {
		return 0, err
	}
	o.console = c
	pid, err := r.Exec(ctx, id, o)
	if c != nil {
		c.Close() // the init has its copy; ours would keep the receive side from seeing EOF
	}
	if err != nil {
		signal.Stop(fg.sigs)
		return 0, err
	}
	return fg.wait(pid)
}
