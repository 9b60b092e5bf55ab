package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/berthproject/berth/internal/daemon/logopts"
	"github.com/berthproject/berth/internal/errdefs"
	"github.com/berthproject/berth/internal/monitor"
	"github.com/berthproject/berth/internal/stream"
)

// pendingAttaches counts the attaches waiting for a container's start: the start tells the shim
// to hold the container until they have joined, so none of its output is lost.
type pendingAttaches struct {
	mu sync.Mutex
	n  map[string]int
}

func (p *pendingAttaches) add(id string, delta int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n == nil {
		p.n = map[string]int{}
	}
	if p.n[id] += delta; p.n[id] <= 0 {
		delete(p.n, id)
	}
}

func (p *pendingAttaches) count(id string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n[id]
}

// ContainerAttach answers POST /containers/{id}/attach: the container's log so far (Logs), then
// its live output and input (Stream) until it exits, the client leaves, or the client types the
// detach keys.
func (d *Daemon) ContainerAttach(ctx context.Context, ref string, o stream.AttachOptions, upgrade stream.Upgrade) error {
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	keys, err := stream.ParseDetachKeys(o.DetachKeys)
	if err != nil {
		return errdefs.InvalidArgument(err)
	}
	waiting := o.Stream && !c.Status.Alive()
	if waiting {
		d.attaching.add(c.ID, 1)
	}
	release := sync.OnceFunc(func() {
		if waiting {
			d.attaching.add(c.ID, -1)
		}
	})
	defer release()
	tty := c.Config != nil && c.Config.Tty
	conn, err := upgrade(tty)
	if err != nil {
		return err
	}
	defer conn.Close()
	if o.Logs {
		lo := logopts.Options{Stdout: o.Stdout, Stderr: o.Stderr}
		if _, err := d.ContainerLogs(ctx, c.ID, lo, conn); err != nil {
			return nil
		}
	}
	if !o.Stream {
		return nil
	}
	shim, err := d.openAttach(ctx, c.ID, o, waiting)
	release()
	if err != nil {
		d.log.Debug("attach", "container", c.ID, "err", err)
		return nil
	}
	defer shim.Close()
	d.event(c, "attach", nil)
	relay(conn, shim, tty, o.Stdin, keys, nil)
	return nil
}

// relay joins a client's stream to a shim's until the shim's output ends (the process exited)
// or the client types the detach keys: output frames to the client (unwrapped with a terminal),
// the client's input to the shim when it sends any.
func relay(client net.Conn, shim *net.UnixConn, tty, input bool, keys []byte, onControl func([]byte)) {
	output := make(chan struct{})
	go func() {
		defer close(output)
		copyFrames(client, shim, tty, onControl)
	}()
	detached := make(chan struct{})
	if input {
		go func() {
			if forwardInput(shim, client, keys) {
				close(detached)
			}
		}()
	}
	select {
	case <-output:
	case <-detached:
	}
}

// openAttach connects to the container's shim, waiting for the start of a container that is not
// running yet (docker run and start -a attach, then start).
func (d *Daemon) openAttach(ctx context.Context, id string, o stream.AttachOptions, waiting bool) (*net.UnixConn, error) {
	req := monitor.Request{Op: "attach", Stdin: o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr}
	if !waiting {
		return monitor.Open(d.shimSocket(id), req)
	}
	deadline := time.Now().Add(time.Minute)
	exited := d.subscribeExit(id)
	startSeen := false // a start notified since this attach came: its shim is the one to join
	for time.Now().Before(deadline) {
		started := d.starts.subscribe(id) // then look: a start in between is not missed
		if c, err := d.containers.Get(id); err != nil {
			return nil, err
		} else if c.Status.Alive() || startSeen {
			// The start notifies once it is decided, before it is recorded: joining then is
			// joining in time. Not before: the socket may still be the previous run's shim's,
			// finishing.
			if conn, err := monitor.Open(d.shimSocket(id), req); err == nil {
				return conn, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-exited:
			return nil, errors.New("the container exited before the attach joined")
		case <-started:
			startSeen = true
		case <-time.After(100 * time.Millisecond): // a safety net, not the mechanism
		}
	}
	return nil, errors.New("the container did not start")
}

// copyFrames writes a shim's output frames to w: as they are (Docker's multiplexed stream)
// without a terminal, the bare bytes with one. Control frames go to control.
func copyFrames(w io.Writer, r io.Reader, tty bool, control func([]byte)) error {
	var buf []byte
	for {
		stream, payload, err := monitor.ReadFrame(r, buf)
		if err != nil {
			return err
		}
		buf = payload[:0]
		switch stream {
		case monitor.FrameControl:
			if control != nil {
				control(payload)
			}
			continue
		case monitor.FrameStdout, monitor.FrameStderr:
		default:
			return fmt.Errorf("unknown stream %d from the shim", stream)
		}
		if tty {
			_, err = w.Write(payload)
		} else {
			err = monitor.WriteFrame(w, stream, payload)
		}
		if err != nil {
			return err
		}
	}
}

// forwardInput copies the client's input to the shim until it ends (the shim then sees a
// half-close) or the client types the detach keys; it reports a detach.
func forwardInput(shim *net.UnixConn, client io.Reader, keys []byte) (detached bool) {
	if err := stream.CopyUntilKeys(shim, client, keys); errors.Is(err, stream.ErrDetached) {
		return true
	}
	shim.CloseWrite()
	return false
}

// ContainerResize answers POST /containers/{id}/resize.
func (d *Daemon) ContainerResize(ctx context.Context, ref string, height, width uint16) error {
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	if !c.Status.Alive() {
		return errdefs.Conflict(fmt.Errorf("Container %s is not running", c.ID))
	}
	_, err = monitor.Call(d.shimSocket(c.ID), monitor.Request{Op: "resize", Height: height, Width: width}, 5*time.Second)
	return err
}
