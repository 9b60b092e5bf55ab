package daemon

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/berthproject/berth/internal/errdefs"
	"github.com/berthproject/berth/internal/monitor"
	ctypes "github.com/moby/moby/api/types/container"
)

// exitWaiters lets callers wait for a container's next exit.
type exitWaiters struct {
	mu sync.Mutex
	m  map[string][]chan struct{}
}

func (d *Daemon) subscribeExit(id string) chan struct{} {
	d.waiters.mu.Lock()
	defer d.waiters.mu.Unlock()
	if d.waiters.m == nil {
		d.waiters.m = map[string][]chan struct{}{}
	}
	ch := make(chan struct{})
	d.waiters.m[id] = append(d.waiters.m[id], ch)
	return ch
}

func (d *Daemon) notifyExit(id string) {
	d.waiters.mu.Lock()
	defer d.waiters.mu.Unlock()
	for _, ch := range d.waiters.m[id] {
		close(ch)
	}
	delete(d.waiters.m, id)
}

func (d *Daemon) waitExit(ctx context.Context, id string, timeout time.Duration) {
	ch := d.subscribeExit(id)
	if c, err := d.containers.Get(id); err != nil || !c.Status.Alive() {
		return
	}
	select {
	case <-ch:
	case <-ctx.Done():
	case <-time.After(timeout):
	}
}

// ContainerWait answers POST /containers/{id}/wait.
func (d *Daemon) ContainerWait(ctx context.Context, ref, condition string) (*ctypes.WaitResponse, error) {
	c, err := d.containers.Get(ref)
	if err != nil {
		return nil, err
	}
	ch := d.subscribeExit(c.ID)
	switch condition {
	case "", "not-running":
		if cur, err := d.containers.Get(c.ID); err == nil && !cur.Status.Alive() {
			return &ctypes.WaitResponse{StatusCode: int64(cur.ExitCode)}, nil
		}
	case "next-exit", "removed":
	default:
		return nil, errdefs.InvalidArgument(errors.New("invalid condition: " + condition))
	}
	select {
	case <-ch:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	cur, err := d.containers.Get(c.ID)
	if err != nil {
		return &ctypes.WaitResponse{StatusCode: int64(c.ExitCode)}, nil
	}
	if condition == "removed" {
		for {
			if _, err := d.containers.Get(c.ID); err != nil {
				break
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return &ctypes.WaitResponse{StatusCode: int64(cur.ExitCode)}, nil
}

// restoreContainers reconnects to the shims of containers that were running when the daemon
// last stopped (they kept running: live restore), and records the exits that happened meanwhile.
func (d *Daemon) restoreContainers() {
	for _, c := range d.containers.List() {
		if !c.Status.Alive() {
			continue
		}
		if rep, err := monitor.Call(d.shimSocket(c.ID), monitor.Request{Op: "state"}, 5*time.Second); err == nil && rep.Running {
			go d.monitorExit(c.ID)
			continue
		}
		d.monitorExit(c.ID) // the shim is gone: its exit record says how the container ended
	}
}
