package daemon

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/berthproject/berth/internal/container"
	ctypes "github.com/moby/moby/api/types/container"
	evtypes "github.com/moby/moby/api/types/events"
)

// Docker's restart backoff: 100ms, doubled at each restart up to a minute, back to 100ms once
// a run lasted 10s.
const (
	restartFirstDelay = 100 * time.Millisecond
	restartMaxDelay   = time.Minute
	restartResetAfter = 10 * time.Second
)

// restartState is the restart policies' memory: each container's current backoff and its
// pending restart. The zero value is ready.
type restartState struct {
	mu      sync.Mutex
	delay   map[string]time.Duration
	pending map[string]chan struct{} // closed to cancel
}

// nextDelay advances a container's backoff after a run of the given length.
func (r *restartState) nextDelay(id string, ran time.Duration) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.delay == nil {
		r.delay = map[string]time.Duration{}
	}
	d := r.delay[id]
	switch {
	case ran >= restartResetAfter || d == 0:
		d = restartFirstDelay
	default:
		d = min(d*2, restartMaxDelay)
	}
	r.delay[id] = d
	return d
}

func (r *restartState) schedule(id string) chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending == nil {
		r.pending = map[string]chan struct{}{}
	}
	ch := make(chan struct{})
	r.pending[id] = ch
	return ch
}

// cancel drops a pending restart; it reports whether there was one.
func (r *restartState) cancel(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	ch, ok := r.pending[id]
	if ok {
		close(ch)
		delete(r.pending, id)
	}
	return ok
}

// done forgets a pending restart that has fired; false if it was cancelled meanwhile.
func (r *restartState) done(id string, ch chan struct{}) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending[id] != ch {
		return false
	}
	delete(r.pending, id)
	return true
}

// forget drops all memory of a removed container.
func (r *restartState) forget(id string) {
	r.cancel(id)
	r.mu.Lock()
	delete(r.delay, id)
	r.mu.Unlock()
}

// shouldRestart is Docker's rule: never after a manual stop; always; unless-stopped; on-failure
// for a non-zero exit while the retry budget (0: unlimited) lasts.
func shouldRestart(p ctypes.RestartPolicy, c *container.Container) bool {
	if c.ManuallyStopped || c.HostConfig.AutoRemove {
		return false
	}
	switch {
	case p.IsAlways(), p.IsUnlessStopped():
		return true
	case p.IsOnFailure():
		return c.ExitCode != 0 && (p.MaximumRetryCount == 0 || c.RestartCount < p.MaximumRetryCount)
	}
	return false
}

// afterExit is called once a container's exit has been recorded: it publishes oom and die, and
// applies the restart policy, waiting out the backoff in the "restarting" state.
func (d *Daemon) afterExit(c *container.Container) {
	if c.OOMKilled {
		d.event(c, string(evtypes.ActionOOM), nil)
	}
	ran := c.FinishedAt.Sub(c.StartedAt)
	d.event(c, string(evtypes.ActionDie), map[string]string{
		"exitCode": strconv.Itoa(c.ExitCode), "execDuration": strconv.Itoa(int(ran.Seconds()))})
	if c.HostConfig == nil || !shouldRestart(c.HostConfig.RestartPolicy, c) {
		return
	}
	delay := d.restarts.nextDelay(c.ID, ran)
	cancelled := d.restarts.schedule(c.ID)
	c.Status = container.StatusRestarting
	c.RestartCount++
	if err := d.containers.Save(c); err != nil {
		d.restarts.cancel(c.ID)
		return
	}
	go func() {
		select {
		case <-cancelled:
			return
		case <-time.After(delay):
		}
		if !d.restarts.done(c.ID, cancelled) {
			return
		}
		ctx := context.WithValue(context.Background(), restartKey{}, true)
		if err := d.ContainerStart(ctx, c.ID); err != nil {
			d.log.Warn("restart policy: start failed", "container", c.ID, "err", err)
			if cur, gerr := d.containers.Get(c.ID); gerr == nil && cur.Status != container.StatusRunning {
				cur.Status = container.StatusExited
				d.containers.Save(cur)
			}
		}
	}()
}

// startOnBoot starts, when berthd starts, the containers whose policy wants them running:
// always (even after a manual stop) and unless-stopped (unless stopped by hand), if they had been
// started before and are not running.
func (d *Daemon) startOnBoot() {
	ctx := context.WithValue(context.Background(), restartKey{}, true)
	for _, c := range d.containers.List() {
		if c.HostConfig == nil {
			continue
		}
		p := c.HostConfig.RestartPolicy
		if c.Status != container.StatusExited || c.StartedAt.IsZero() ||
			!(p.IsAlways() || p.IsUnlessStopped() && !c.ManuallyStopped) {
			continue
		}
		if err := d.ContainerStart(ctx, c.ID); err != nil {
			d.log.Warn("restart policy: start at boot failed", "container", c.ID, "err", err)
		}
	}
}
