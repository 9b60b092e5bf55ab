package daemon

import (
	"context"
	"errors"
	"os"
	"sync"
	"time"

	"github.com/berthproject/berth/internal/container"
	"github.com/berthproject/berth/internal/errdefs"
	"github.com/berthproject/berth/internal/monitor"
	"github.com/berthproject/berth/internal/snapshot"
	ctypes "github.com/moby/moby/api/types/container"
)

// waiters lets callers wait for the next event of one kind (an exit, a start) of a container.
type waiters struct {
	mu sync.Mutex
	m  map[string][]chan struct{}
}

func (w *waiters) subscribe(id string) chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[string][]chan struct{}{}
	}
	ch := make(chan struct{})
	w.m[id] = append(w.m[id], ch)
	return ch
}

func (w *waiters) notify(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ch := range w.m[id] {
		close(ch)
	}
	delete(w.m, id)
}

// subscribeExit returns a channel closed at the container's next exit or removal.
func (d *Daemon) subscribeExit(id string) chan struct{} { return d.waiters.subscribe(id) }

func (d *Daemon) notifyExit(id string) { d.waiters.notify(id) }

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
		// Removal notifies the same waiters: subscribe, then look, so none is missed.
		for {
			next := d.subscribeExit(c.ID)
			if _, err := d.containers.Get(c.ID); err != nil {
				break
			}
			select {
			case <-next:
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Second): // a safety net, not the mechanism
			}
		}
	}
	return &ctypes.WaitResponse{StatusCode: int64(cur.ExitCode)}, nil
}

// removeOrphanSnapshots deletes the writable snapshots of containers that have no record: a
// daemon killed in the middle of a create, between preparing the snapshot and writing the
// record, leaves one that nothing would ever remove. Container snapshots are keyed by the
// container's id; the image service's own writable snapshots have prefixed keys.
func (d *Daemon) removeOrphanSnapshots(ctx context.Context) {
	var orphans []string
	d.snaps.Walk(ctx, func(i snapshot.Info) error {
		if i.Kind == snapshot.KindActive && container.IsID(i.Key) {
			if _, err := d.containers.Get(i.Key); err != nil {
				orphans = append(orphans, i.Key)
			}
		}
		return nil
	})
	for _, key := range orphans {
		d.log.Warn("removing the snapshot of a container whose create did not finish", "container", key)
		if err := d.snaps.Remove(ctx, key); err != nil {
			d.log.Warn("remove orphan snapshot", "container", key, "err", err)
		}
	}
}

// removeUnfinishedCreates removes the records of containers whose create did not finish: a
// record is written beside its snapshot's commit (ContainerCreate), and a daemon killed between
// the two leaves it without its snapshot. Such a container was never started.
func (d *Daemon) removeUnfinishedCreates(ctx context.Context) {
	for _, c := range d.containers.List() {
		if c.Status != container.StatusCreated || !c.StartedAt.IsZero() {
			continue
		}
		if _, err := d.snaps.Stat(ctx, c.ID); errdefs.Is(err, errdefs.KindNotFound) {
			d.log.Warn("removing a container whose create did not finish", "container", c.ID)
			if err := d.containers.Delete(c.ID); err != nil {
				d.log.Warn("remove unfinished container", "container", c.ID, "err", err)
				continue
			}
			d.releaseVolumes(c, true) // the anonymous volumes its create made
		}
	}
}

// restoreContainers reconnects to the shims of containers that were running when the daemon
// last stopped (they kept running: live restore), and records the exits that happened meanwhile.
//
// A daemon killed in the middle of a start may have left a shim running a container whose record
// still says created or exited: such a container is adopted (recorded as running and watched),
// so it is neither invisible nor unstoppable.
func (d *Daemon) restoreContainers() {
	for _, c := range d.containers.List() {
		d.loadHealth(c.ID)
		if !c.Status.Alive() {
			if _, err := os.Stat(d.shimSocket(c.ID)); err != nil {
				continue
			}
			rep, err := monitor.Call(d.shimSocket(c.ID), monitor.Request{Op: "state"}, 5*time.Second)
			if err != nil || !rep.Running {
				continue
			}
			d.log.Warn("adopting a container started just before the daemon stopped", "container", c.ID, "pid", rep.Pid)
			c.Status, c.Pid, c.StartedAt, c.ExitCode, c.Error = container.StatusRunning, rep.Pid, time.Now().UTC(), 0, ""
			if err := d.containers.Save(c); err != nil {
				d.log.Error("adopt container", "container", c.ID, "err", err)
				continue
			}
			d.startHealth(c) // before the exit is watched, which stops it
			go d.monitorExit(c.ID, nil)
			continue
		}
		if rep, err := monitor.Call(d.shimSocket(c.ID), monitor.Request{Op: "state"}, 5*time.Second); err == nil && rep.Running {
			d.resumeHealth(c) // as it was: its status survives the daemon
			go d.monitorExit(c.ID, nil)
			continue
		}
		d.monitorExit(c.ID, nil) // the shim is gone: its exit record says how the container ended
	}
}
