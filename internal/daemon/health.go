package daemon

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/berthproject/berth/internal/atomicfile"
	"github.com/berthproject/berth/internal/container"
	"github.com/berthproject/berth/internal/errdefs"
	"github.com/berthproject/berth/internal/monitor"
	ctypes "github.com/moby/moby/api/types/container"
	evtypes "github.com/moby/moby/api/types/events"
)

// Docker's health check rules (HEALTHCHECK, run --health-*): its defaults, how much of a probe's
// output is kept, and how many results.
const (
	defaultProbeInterval = 30 * time.Second
	defaultProbeTimeout  = 30 * time.Second
	defaultStartInterval = 5 * time.Second
	defaultProbeRetries  = 3
	probeOutputMax       = 4096
	healthLogEntries     = 5
	// probeStartTimeout bounds the start of a probe's exec, which does not count towards the
	// probe's own timeout.
	probeStartTimeout = 30 * time.Second
	healthFile        = "health.json"
)

// healthMonitors holds each container's health (what inspect shows) and its running monitor.
// The health lives beside the container's record, in its own file, so that probes never
// rewrite the record while another operation does.
type healthMonitors struct {
	mu sync.Mutex
	m  map[string]*healthState
}

type healthState struct {
	mu     sync.Mutex
	health ctypes.Health
	stop   chan struct{} // closed to stop the monitor; nil while none runs
}

func (h *healthMonitors) get(id string) *healthState {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.m[id]
}

// getOrCreate returns the container's health state, made empty if it has none.
func (h *healthMonitors) getOrCreate(id string) *healthState {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = map[string]*healthState{}
	}
	s, ok := h.m[id]
	if !ok {
		s = &healthState{}
		h.m[id] = s
	}
	return s
}

func (h *healthMonitors) delete(id string) *healthState {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.m[id]
	delete(h.m, id)
	return s
}

// probeCommand is what a healthcheck runs, or nil when there is none (no Test, NONE, or a kind
// Docker does not know).
func probeCommand(c *container.Container) []string {
	hc := c.Config.Healthcheck
	if hc == nil || len(hc.Test) < 2 {
		return nil
	}
	switch hc.Test[0] {
	case "CMD":
		return hc.Test[1:]
	case "CMD-SHELL":
		shell := c.Config.Shell
		if len(shell) == 0 {
			shell = []string{"/bin/sh", "-c"}
		}
		return append(append([]string{}, shell...), hc.Test[1:]...)
	}
	return nil
}

// mergeHealthcheck is Docker's merge of the image's HEALTHCHECK into the container's: each
// field the container leaves unset comes from the image.
func mergeHealthcheck(cfg *ctypes.Config, img *ctypes.HealthConfig) {
	if img == nil {
		return
	}
	if cfg.Healthcheck == nil {
		cp := *img
		cp.Test = append([]string(nil), img.Test...)
		cfg.Healthcheck = &cp
		return
	}
	h := cfg.Healthcheck
	if len(h.Test) == 0 {
		h.Test = append([]string(nil), img.Test...)
	}
	if h.Interval == 0 {
		h.Interval = img.Interval
	}
	if h.Timeout == 0 {
		h.Timeout = img.Timeout
	}
	if h.StartPeriod == 0 {
		h.StartPeriod = img.StartPeriod
	}
	if h.StartInterval == 0 {
		h.StartInterval = img.StartInterval
	}
	if h.Retries == 0 {
		h.Retries = img.Retries
	}
}

// validateHealthcheck refuses at create what dockerd refuses, with its messages.
func validateHealthcheck(h *ctypes.HealthConfig) error {
	if h == nil {
		return nil
	}
	for _, d := range []struct {
		field string
		value time.Duration
	}{{"Interval", h.Interval}, {"Timeout", h.Timeout}} {
		if d.value != 0 && d.value < ctypes.MinimumDuration {
			return errdefs.InvalidArgument(fmt.Errorf("%s in Healthcheck cannot be less than %s", d.field, ctypes.MinimumDuration))
		}
	}
	if h.Retries < 0 {
		return errdefs.InvalidArgument(errors.New("Retries in Healthcheck cannot be negative"))
	}
	for _, d := range []struct {
		field string
		value time.Duration
	}{{"StartPeriod", h.StartPeriod}, {"StartInterval", h.StartInterval}} {
		if d.value != 0 && d.value < ctypes.MinimumDuration {
			return errdefs.InvalidArgument(fmt.Errorf("%s in Healthcheck cannot be less than %s", d.field, ctypes.MinimumDuration))
		}
	}
	return nil
}

// startHealth resets a container's health as it starts (or restarts): "starting", no failing
// streak, the log of earlier runs kept, as Docker does; then runs its monitor.
func (d *Daemon) startHealth(c *container.Container) {
	if probeCommand(c) == nil {
		return
	}
	s := d.health.getOrCreate(c.ID)
	s.mu.Lock()
	s.stopMonitor()
	s.health.Status, s.health.FailingStreak = ctypes.Starting, 0
	d.saveHealth(c.ID, &s.health)
	s.runMonitor(d, c)
	s.mu.Unlock()
}

// resumeHealth runs the monitor of a running container again with its health as it was (after
// an unpause, or when the daemon restarts).
func (d *Daemon) resumeHealth(c *container.Container) {
	if probeCommand(c) == nil || c.Status != container.StatusRunning {
		return
	}
	s := d.health.get(c.ID)
	if s == nil {
		d.startHealth(c) // it never had a health record (started by an older berthd)
		return
	}
	s.mu.Lock()
	if s.stop == nil {
		s.runMonitor(d, c)
	}
	s.mu.Unlock()
}

// stopHealth stops a container's monitor; its health stays as it was. A probe under way is
// killed, and its result dropped.
func (d *Daemon) stopHealth(id string) {
	if s := d.health.get(id); s != nil {
		s.mu.Lock()
		s.stopMonitor()
		s.mu.Unlock()
	}
}

// forgetHealth drops a removed container's health.
func (d *Daemon) forgetHealth(id string) {
	if s := d.health.delete(id); s != nil {
		s.mu.Lock()
		s.stopMonitor()
		s.mu.Unlock()
	}
}

// loadHealth reads a container's recorded health when the daemon starts.
func (d *Daemon) loadHealth(id string) {
	b, err := os.ReadFile(filepath.Join(d.containers.Dir(id), healthFile))
	if err != nil {
		return
	}
	var h ctypes.Health
	if err := json.Unmarshal(b, &h); err != nil {
		d.log.Warn("unreadable health record", "container", id, "err", err)
		return
	}
	s := d.health.getOrCreate(id)
	s.mu.Lock()
	s.health = h
	s.mu.Unlock()
}

// saveHealth records the health so that it survives the daemon; rewritten at every probe, it
// is not synced (a power loss costs at most the last results).
func (d *Daemon) saveHealth(id string, h *ctypes.Health) {
	b, err := json.Marshal(h)
	if err != nil {
		return
	}
	if err := atomicfile.WriteFileNoSync(filepath.Join(d.containers.Dir(id), healthFile), b, 0o600); err != nil && !os.IsNotExist(err) {
		d.log.Warn("record health", "container", id, "err", err)
	}
}

// healthOf is a copy of the container's health for inspect, ps and filters; nil without one.
func (d *Daemon) healthOf(id string) *ctypes.Health {
	s := d.health.get(id)
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.health.Status == "" {
		return nil
	}
	h := s.health
	h.Log = make([]*ctypes.HealthcheckResult, len(s.health.Log))
	for i, r := range s.health.Log {
		cp := *r
		h.Log[i] = &cp
	}
	return &h
}

// healthStatus is the ps filter's view: "none" without a healthcheck.
func (d *Daemon) healthStatus(id string) string {
	if h := d.healthOf(id); h != nil {
		return string(h.Status)
	}
	return string(ctypes.NoHealthcheck)
}

// stopMonitor is called with s.mu held.
func (s *healthState) stopMonitor() {
	if s.stop != nil {
		close(s.stop)
		s.stop = nil
	}
}

// runMonitor starts the monitor goroutine; called with s.mu held.
func (s *healthState) runMonitor(d *Daemon, c *container.Container) {
	stop := make(chan struct{})
	s.stop = stop
	go d.monitorHealth(c, s, stop)
}

// monitorHealth probes the container until stop is closed: first after an interval, then an
// interval after each probe ends; during the start period, while the container has not yet
// been healthy, at the start interval (Docker's code skips it when the start period is shorter
// than the interval, moby#49900), and once more as the start period ends.
func (d *Daemon) monitorHealth(c *container.Container, s *healthState, stop chan struct{}) {
	hc := c.Config.Healthcheck
	interval := durationOr(hc.Interval, defaultProbeInterval)
	startInterval := durationOr(hc.StartInterval, defaultStartInterval)
	timeout := durationOr(hc.Timeout, defaultProbeTimeout)
	cmd := probeCommand(c)
	periodEnd := c.StartedAt.Add(hc.StartPeriod)
	var lastStart time.Time // of the last probe
	next := func() time.Duration {
		left := time.Until(periodEnd)
		if left <= 0 {
			if !lastStart.IsZero() && lastStart.Before(periodEnd) {
				// The last probe began within the start period and ended after it: the probe
				// that closes the period (whose failure counts) is still due.
				return 0
			}
			return interval
		}
		s.mu.Lock()
		starting := s.health.Status == ctypes.Starting
		s.mu.Unlock()
		if starting {
			return min(startInterval, left)
		}
		return min(interval, left)
	}
	timer := time.NewTimer(next())
	defer timer.Stop()
	for {
		select {
		case <-stop:
			return
		case <-timer.C:
		}
		lastStart = time.Now()
		ctx, cancel := context.WithCancel(context.Background())
		result := make(chan *ctypes.HealthcheckResult, 1)
		go func() { result <- d.runProbe(ctx, c, cmd, timeout) }()
		select {
		case <-stop:
			cancel()
			<-result // the probe is killed: wait, so that probes never pile up
			return
		case r := <-result:
			cancel()
			d.recordProbe(c, s, stop, r)
		}
		timer.Reset(next())
	}
}

// recordProbe adds a probe's result to the container's health and publishes a change of status.
func (d *Daemon) recordProbe(c *container.Container, s *healthState, stop chan struct{}, r *ctypes.HealthcheckResult) {
	s.mu.Lock()
	select {
	case <-stop:
		s.mu.Unlock()
		return // stopped while the result was on its way: it no longer counts
	default:
	}
	h := &s.health
	old := h.Status
	h.Log = append(h.Log, r)
	if len(h.Log) > healthLogEntries {
		h.Log = append([]*ctypes.HealthcheckResult(nil), h.Log[len(h.Log)-healthLogEntries:]...)
	}
	if r.ExitCode == 0 {
		h.FailingStreak, h.Status = 0, ctypes.Healthy
	} else if old != ctypes.Starting || r.Start.Sub(c.StartedAt) >= c.Config.Healthcheck.StartPeriod {
		// Failures during the start period do not count until a probe has succeeded.
		h.FailingStreak++
		retries := c.Config.Healthcheck.Retries
		if retries <= 0 {
			retries = defaultProbeRetries
		}
		if h.FailingStreak >= retries {
			h.Status = ctypes.Unhealthy
		}
	}
	status := h.Status
	d.saveHealth(c.ID, h)
	// Published before the new status can be read: whoever sees it (inspect) finds its event.
	if status != old {
		if cur, err := d.containers.Get(c.ID); err == nil {
			d.event(cur, string(evtypes.ActionHealthStatus)+": "+string(status), nil)
		}
	}
	s.mu.Unlock()
}

// runProbe runs one probe as an exec in the container (its user and working directory, no
// terminal) and returns its result: its exit code and its output, stdout and stderr together,
// cut to Docker's length. A probe that outlives its timeout is killed and fails with -1, as
// does one that cannot start; a cancelled ctx kills it too.
func (d *Daemon) runProbe(ctx context.Context, c *container.Container, cmd []string, timeout time.Duration) *ctypes.HealthcheckResult {
	start := time.Now()
	failed := func(err error) *ctypes.HealthcheckResult {
		return &ctypes.HealthcheckResult{Start: start, End: time.Now(), ExitCode: -1, Output: err.Error()}
	}
	b := make([]byte, 32)
	rand.Read(b)
	execID := hex.EncodeToString(b)
	req := &ctypes.ExecCreateRequest{Cmd: cmd, User: c.Config.User, WorkingDir: c.Config.WorkingDir, AttachStdout: true, AttachStderr: true}
	d.ExecEvent(c.ID, string(evtypes.ActionExecCreate), execID, cmd, nil)
	proc, err := d.execProcess(c, req, false)
	if err != nil {
		return failed(err)
	}
	shim, err := monitor.Open(d.shimSocket(c.ID), monitor.Request{Op: "exec", Exec: &monitor.ExecRequest{ID: execID, Process: proc}})
	if err != nil {
		return failed(fmt.Errorf("container %s: %w", c.ID, err))
	}
	defer shim.Close()
	var exitCode *int
	var startErr string
	onControl := func(payload []byte) {
		var ctl monitor.Control
		if json.Unmarshal(payload, &ctl) != nil {
			return
		}
		switch {
		case ctl.Error != "":
			startErr = ctl.Error
		case ctl.ExitCode != nil:
			exitCode = ctl.ExitCode
			d.ExecEvent(c.ID, string(evtypes.ActionExecDie), execID, nil, map[string]string{"exitCode": strconv.Itoa(*ctl.ExitCode)})
		case ctl.Pid > 0:
			d.ExecEvent(c.ID, string(evtypes.ActionExecStart), execID, cmd, nil)
		}
	}
	shim.SetReadDeadline(time.Now().Add(probeStartTimeout))
	if err := firstControl(shim, onControl); err != nil {
		return failed(fmt.Errorf("timed out starting health check for container %s", c.ID))
	}
	shim.SetReadDeadline(time.Time{})
	if startErr != "" {
		return failed(errors.New("OCI runtime exec failed: " + startErr + ": unknown"))
	}
	out := &limitedBuffer{}
	done := make(chan error, 1)
	go func() { done <- copyFrames(out, shim, true, onControl) }() // ends with the exec
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	kill := func() {
		monitor.Call(d.shimSocket(c.ID), monitor.Request{Op: "kill", ExecID: execID, Signal: int(syscall.SIGKILL)}, 10*time.Second)
		<-done
	}
	select {
	case <-done:
	case <-ctx.Done():
		kill()
		return failed(ctx.Err())
	case <-timer.C:
		kill()
		msg := fmt.Sprintf("Health check exceeded timeout (%v)", timeout)
		if o := out.String(); o != "" {
			msg += ": " + o
		}
		return &ctypes.HealthcheckResult{Start: start, End: time.Now(), ExitCode: -1, Output: msg}
	}
	if exitCode == nil {
		return failed(fmt.Errorf("healthcheck for container %s has no exit code", c.ID))
	}
	return &ctypes.HealthcheckResult{Start: start, End: time.Now(), ExitCode: *exitCode, Output: out.String()}
}

// limitedBuffer keeps the first probeOutputMax bytes written to it, and says when it dropped
// some ("..." appended), as Docker does.
type limitedBuffer struct {
	buf       bytes.Buffer
	truncated bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	keep := min(probeOutputMax-b.buf.Len(), len(p))
	if keep > 0 {
		b.buf.Write(p[:keep])
	}
	if keep < len(p) {
		b.truncated = true
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	if b.truncated {
		return b.buf.String() + "..."
	}
	return b.buf.String()
}

func durationOr(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}
