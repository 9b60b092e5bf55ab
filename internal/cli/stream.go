package cli

import (
	"context"
	"errors"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/berthproject/berth/internal/stream"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
	"golang.org/x/term"
)

// ioSession pumps a hijacked attach or exec stream between the user's terminal and the
// container: output (demultiplexed unless there is a terminal), input when asked, the local
// terminal in raw mode and its size followed.
type ioSession struct {
	e          *env
	tty        bool
	stdin      bool
	detachKeys string
	resize     func(ctx context.Context, height, width uint) // the container's or exec's terminal
}

// terminalFd is the user's input terminal, if it is one.
func (e *env) terminalFd() (int, bool) {
	f, ok := e.in.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0, false
	}
	return int(f.Fd()), true
}

// terminalSize is the user's output terminal's size (0, 0 when it is not one).
func (e *env) terminalSize() (height, width uint) {
	if f, ok := e.out.(*os.File); ok {
		if w, h, err := term.GetSize(int(f.Fd())); err == nil {
			return uint(h), uint(w)
		}
	}
	return 0, 0
}

// run streams until the output ends (the process exited) or the user detaches.
func (s ioSession) run(ctx context.Context, h client.HijackedResponse) error {
	defer h.Close()
	if s.tty && s.stdin {
		if fd, ok := s.e.terminalFd(); ok {
			if state, err := term.MakeRaw(fd); err == nil {
				defer term.Restore(fd, state)
			}
		}
	}
	if s.tty && s.resize != nil {
		stop := s.followSize(ctx)
		defer stop()
	}
	output := make(chan error, 1)
	go func() {
		var err error
		if s.tty {
			_, err = io.Copy(s.e.out, h.Reader)
		} else {
			_, err = stdcopy.StdCopy(s.e.out, s.e.errOut, h.Reader)
		}
		output <- err
	}()
	input := make(chan error, 1)
	if s.stdin && s.e.in != nil {
		keys, err := stream.ParseDetachKeys(s.detachKeys)
		if err != nil {
			return err
		}
		go func() {
			err := stream.CopyUntilKeys(h.Conn, s.e.in, keys)
			if !errors.Is(err, stream.ErrDetached) {
				h.CloseWrite()
			}
			input <- err
		}()
	}
	select {
	case err := <-output:
		return err
	case err := <-input:
		if errors.Is(err, stream.ErrDetached) {
			return err
		}
		return <-output
	}
}

// followSize sends the terminal's size now and whenever it changes.
func (s ioSession) followSize(ctx context.Context) (stop func()) {
	send := func() {
		if h, w := s.e.terminalSize(); h > 0 && w > 0 {
			s.resize(ctx, h, w)
		}
	}
	send()
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-winch:
				send()
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(winch)
		close(done)
		wg.Wait()
	}
}
