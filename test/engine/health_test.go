package engine_test

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// healthState is the part of docker inspect a health test reads.
type healthState struct {
	State struct {
		Running   bool
		StartedAt time.Time
		Health    *healthInfo
	}
	Config struct {
		Healthcheck *struct {
			Test                                          []string
			Interval, Timeout, StartPeriod, StartInterval time.Duration
			Retries                                       int
		}
	}
}

type healthInfo struct {
	Status        string
	FailingStreak int
	Log           []struct {
		Start, End time.Time
		ExitCode   int
		Output     string
	}
}

// lastProbe is when the latest recorded probe started.
func (h *healthInfo) lastProbe() time.Time {
	if h == nil || len(h.Log) == 0 {
		return time.Time{}
	}
	return h.Log[len(h.Log)-1].Start
}

func (d *daemon) inspectHealth(cli, ref string) healthState {
	d.t.Helper()
	var out []healthState
	if err := json.Unmarshal([]byte(d.must(cli, "inspect", ref)), &out); err != nil || len(out) != 1 {
		d.t.Fatalf("inspect %s: %v", ref, err)
	}
	return out[0]
}

// waitHealth polls inspect until ok holds (or fails the test after a generous deadline).
func (d *daemon) waitHealth(ref string, what string, ok func(healthState) bool) healthState {
	d.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := d.inspectHealth(dockerCLI, ref)
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("%s: %s never came: %+v", ref, what, s.State.Health)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func healthIs(status string) func(healthState) bool {
	return func(s healthState) bool { return s.State.Health != nil && s.State.Health.Status == status }
}

// healthImage loads busybox with a HEALTHCHECK in its config as hc:latest.
func healthImage(t *testing.T, d *daemon) {
	t.Helper()
	img := busyboxImage(t, "amd64")
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Architecture = strings.TrimSpace(d.must(dockerCLI, "version", "-f", "{{.Server.Arch}}"))
	cf.Config.Healthcheck = &v1.HealthConfig{Test: []string{"CMD-SHELL", "echo from-image"}, Interval: 200 * time.Millisecond, Retries: 2}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "hc.tar")
	if err := tarball.WriteToFile(archive, name.MustParseReference("hc:latest"), img); err != nil {
		t.Fatal(err)
	}
	d.must(dockerCLI, "load", "-q", "-i", archive)
}

// TestHealthchecks runs probes on real containers through both clients, with one daemon.
func TestHealthchecks(t *testing.T) {
	d := withBusybox(t)
	top := t

	t.Run("healthy", func(t *testing.T) {
		d.t = t
		for _, cli := range clients() {
			since := time.Now().Add(-time.Second).Format(time.RFC3339Nano)
			id := d.must(cli, "run", "-d", "--health-cmd", "echo ok", "--health-interval", "200ms", "busybox", "sleep", "60")
			s := d.waitHealth(id, "healthy", healthIs("healthy"))
			until := time.Now().Add(time.Second).Format(time.RFC3339Nano)
			for _, c := range clients() {
				got := d.must(c, "events", "--since", since, "--until", until, "--filter", "container="+id,
					"--filter", "event=health_status", "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.image}}")
				if got != "container health_status: healthy busybox" {
					t.Errorf("%s events: %q", c, got)
				}
				probes := d.must(c, "events", "--since", since, "--until", until, "--filter", "container="+id,
					"--filter", "event=exec_start", "--format", "{{.Action}}")
				if !strings.HasPrefix(probes, "exec_start: /bin/sh -c echo ok") {
					t.Errorf("%s probe exec events: %q", c, probes)
				}
			}
			h := s.State.Health
			last := h.Log[len(h.Log)-1]
			if h.FailingStreak != 0 || last.ExitCode != 0 || last.Output != "ok\n" || last.End.Before(last.Start) || last.Start.Before(s.State.StartedAt) {
				t.Errorf("%s: health %+v", cli, h)
			}
			if hc := s.Config.Healthcheck; hc == nil || !slices.Equal(hc.Test, []string{"CMD-SHELL", "echo ok"}) || hc.Interval != 200*time.Millisecond {
				t.Errorf("%s: Config.Healthcheck %+v", cli, hc)
			}
			for _, c := range clients() {
				if st := d.must(c, "ps", "--filter", "id="+id, "--format", "{{.Status}}"); !strings.HasPrefix(st, "Up ") || !strings.HasSuffix(st, " (healthy)") {
					t.Errorf("%s ps status: %q", c, st)
				}
				if got := d.must(c, "ps", "-q", "--no-trunc", "--filter", "health=healthy"); !strings.Contains(got, id) {
					t.Errorf("%s ps --filter health=healthy: %q", c, got)
				}
				if got := d.must(c, "ps", "-q", "--no-trunc", "--filter", "health=unhealthy"); strings.Contains(got, id) {
					t.Errorf("%s ps --filter health=unhealthy lists a healthy container", c)
				}
			}
			d.must(cli, "rm", "-f", id)
		}
	})

	t.Run("starting", func(t *testing.T) {
		d.t = t
		// The first probe comes an interval after the start: until then, "starting".
		id := d.mustDocker("run", "-d", "--health-cmd", "true", "--health-interval", "1h", "busybox", "sleep", "60")
		for _, cli := range clients() {
			if s := d.inspectHealth(cli, id); s.State.Health == nil || s.State.Health.Status != "starting" || len(s.State.Health.Log) != 0 {
				t.Errorf("%s inspect: %+v", cli, s.State.Health)
			}
			if st := d.must(cli, "ps", "--filter", "id="+id, "--format", "{{.Status}}"); !strings.HasSuffix(st, " (health: starting)") {
				t.Errorf("%s ps status: %q", cli, st)
			}
			if got := d.must(cli, "ps", "-q", "--no-trunc", "--filter", "health=starting"); got != id {
				t.Errorf("%s ps --filter health=starting: %q", cli, got)
			}
		}
		d.mustDocker("rm", "-f", id)
	})

	t.Run("unhealthy", func(t *testing.T) {
		d.t = t
		id := d.mustDocker("run", "-d", "--health-cmd", "echo bad >&2; exit 3", "--health-interval", "100ms", "--health-retries", "2", "busybox", "sleep", "60")
		s := d.waitHealth(id, "unhealthy", healthIs("unhealthy"))
		if h := s.State.Health; h.FailingStreak < 2 || h.Log[len(h.Log)-1].ExitCode != 3 || h.Log[len(h.Log)-1].Output != "bad\n" {
			t.Errorf("health %+v", h)
		}
		// Only the last 5 results are kept.
		s = d.waitHealth(id, "7 failures", func(s healthState) bool { return s.State.Health.FailingStreak >= 7 })
		if n := len(s.State.Health.Log); n != 5 || s.State.Health.Status != "unhealthy" {
			t.Errorf("%d results kept, status %s", n, s.State.Health.Status)
		}
		for _, cli := range clients() {
			if st := d.must(cli, "ps", "--filter", "id="+id, "--format", "{{.Status}}"); !strings.HasSuffix(st, " (unhealthy)") {
				t.Errorf("%s ps status: %q", cli, st)
			}
			if got := d.must(cli, "ps", "-q", "--no-trunc", "--filter", "health=unhealthy"); got != id {
				t.Errorf("%s ps --filter health=unhealthy: %q", cli, got)
			}
		}
		// A stopped container keeps its health, and is no longer probed.
		d.mustDocker("stop", "-t", "0", id)
		before := d.inspectHealth(dockerCLI, id).State.Health
		time.Sleep(500 * time.Millisecond) // five intervals: a probe would have run
		after := d.inspectHealth(dockerCLI, id).State.Health
		if before == nil || after == nil || after.Status != "unhealthy" || after.FailingStreak != before.FailingStreak {
			t.Errorf("health after stop: %+v then %+v", before, after)
		}
		d.mustDocker("rm", id)
	})

	t.Run("paused", func(t *testing.T) {
		d.t = t
		id := d.mustDocker("run", "-d", "--health-cmd", "true", "--health-interval", "100ms", "busybox", "sleep", "60")
		d.waitHealth(id, "healthy", healthIs("healthy"))
		d.mustDocker("pause", id)
		before := d.inspectHealth(dockerCLI, id).State.Health
		time.Sleep(500 * time.Millisecond) // five intervals: a probe would have run
		after := d.inspectHealth(dockerCLI, id).State.Health
		if st := d.mustDocker("ps", "--filter", "id="+id, "--format", "{{.Status}}"); !strings.HasSuffix(st, " (Paused)") {
			t.Errorf("ps status: %q", st)
		}
		if after == nil || after.Status != "healthy" || !after.lastProbe().Equal(before.lastProbe()) {
			t.Errorf("probed while paused: %+v then %+v", before, after)
		}
		d.mustDocker("unpause", id)
		paused := time.Now()
		d.waitHealth(id, "a probe after unpause", func(s healthState) bool {
			return s.State.Health.lastProbe().After(paused)
		})
		d.mustDocker("rm", "-f", id)
	})

	t.Run("timeout", func(t *testing.T) {
		d.t = t
		id := d.mustDocker("run", "-d", "--health-cmd", "echo started; sleep 30", "--health-timeout", "300ms",
			"--health-interval", "100ms", "--health-retries", "1", "busybox", "sleep", "60")
		s := d.waitHealth(id, "3 timeouts", func(s healthState) bool { return s.State.Health != nil && len(s.State.Health.Log) >= 3 })
		withOutput := false
		for _, r := range s.State.Health.Log {
			// What it wrote before the timeout follows (a loaded machine may not have run it yet).
			withOutput = withOutput || r.Output == "Health check exceeded timeout (300ms): started\n"
			if r.ExitCode != -1 || !strings.HasPrefix(r.Output, "Health check exceeded timeout (300ms)") {
				t.Errorf("timed out probe: %+v", r)
			}
		}
		if !withOutput {
			t.Errorf("no timed out probe reports its output: %+v", s.State.Health.Log)
		}
		if s.State.Health.Status != "unhealthy" {
			t.Errorf("status %s", s.State.Health.Status)
		}
		// Killed probes do not pile up: at most the one under way is left.
		top := d.mustDocker("top", id)
		if n := strings.Count(top, "sleep 30"); n > 1 {
			t.Errorf("%d probes still running:\n%s", n, top)
		}
		d.mustDocker("rm", "-f", id)
	})

	t.Run("start period", func(t *testing.T) {
		d.t = t
		// Probes every 100ms during a 3s start period (not every hour), whose failures do not
		// count; the start period's end brings one more probe, which does.
		id := d.mustDocker("run", "-d", "--health-cmd", "exit 1", "--health-interval", "1h", "--health-retries", "1",
			"--health-start-period", "3s", "--health-start-interval", "100ms", "busybox", "sleep", "60")
		seenStarting := false
		s := d.waitHealth(id, "unhealthy", func(s healthState) bool {
			h := s.State.Health
			if h == nil || len(h.Log) == 0 {
				return false
			}
			if h.Log[len(h.Log)-1].Start.Sub(s.State.StartedAt) < 3*time.Second {
				seenStarting = true
				if h.Status != "starting" || h.FailingStreak != 0 {
					t.Errorf("a failure within the start period counted: %+v", h)
				}
			}
			return h.Status == "unhealthy"
		})
		if !seenStarting {
			t.Errorf("no probe seen within the start period: %+v", s.State.Health)
		}
		if s.State.Health.FailingStreak != 1 {
			t.Errorf("failing streak %d", s.State.Health.FailingStreak)
		}
		d.mustDocker("rm", "-f", id)
	})

	t.Run("image healthcheck", func(t *testing.T) {
		d.t = t
		healthImage(t, d)
		if got := d.mustDocker("image", "inspect", "-f", "{{json .Config.Healthcheck.Test}}", "hc"); got != `["CMD-SHELL","echo from-image"]` {
			t.Errorf("image inspect: %s", got)
		}
		id := d.mustDocker("run", "-d", "hc", "sleep", "60")
		s := d.waitHealth(id, "healthy", healthIs("healthy"))
		if out := s.State.Health.Log[0].Output; out != "from-image\n" {
			t.Errorf("probe output %q", out)
		}
		// The container's settings over the image's, field by field.
		for _, cli := range clients() {
			mixed := d.must(cli, "create", "--health-retries", "7", "--health-timeout", "2s", "hc")
			hc := d.inspectHealth(cli, mixed).Config.Healthcheck
			if hc == nil || !slices.Equal(hc.Test, []string{"CMD-SHELL", "echo from-image"}) || hc.Retries != 7 ||
				hc.Timeout != 2*time.Second || hc.Interval != 200*time.Millisecond {
				t.Errorf("%s: merged healthcheck %+v", cli, hc)
			}
			off := d.must(cli, "run", "-d", "--no-healthcheck", "hc", "sleep", "60")
			s := d.inspectHealth(cli, off)
			if s.State.Health != nil || s.Config.Healthcheck == nil || !slices.Equal(s.Config.Healthcheck.Test, []string{"NONE"}) {
				t.Errorf("%s --no-healthcheck: health %+v config %+v", cli, s.State.Health, s.Config.Healthcheck)
			}
			if st := d.must(cli, "ps", "--filter", "id="+off, "--format", "{{.Status}}"); strings.Contains(st, "(") {
				t.Errorf("%s ps status without healthcheck: %q", cli, st)
			}
			if got := d.must(cli, "ps", "-q", "--no-trunc", "--filter", "health=none"); !strings.Contains(got, off) || strings.Contains(got, id) {
				t.Errorf("%s ps --filter health=none: %q", cli, got)
			}
			d.must(cli, "rm", "-f", mixed, off)
		}
		d.mustDocker("rm", "-f", id)
	})

	t.Run("bad flags", func(t *testing.T) {
		d.t = t
		for _, cli := range clients() {
			for _, c := range []struct {
				args []string
				want string
			}{
				{[]string{"--no-healthcheck", "--health-cmd", "true"}, "--no-healthcheck conflicts with --health-* options"},
				{[]string{"--health-interval", "-1s"}, "--health-interval cannot be negative"},
				{[]string{"--health-retries", "-1"}, "--health-retries cannot be negative"},
				{[]string{"--health-interval", "500us"}, "Interval in Healthcheck cannot be less than 1ms"},
				{[]string{"--health-start-period", "10ns"}, "StartPeriod in Healthcheck cannot be less than 1ms"},
			} {
				r := d.run(cli, append(append([]string{"create"}, c.args...), "busybox")...)
				if r.code == 0 || !strings.Contains(r.stderr, c.want) {
					t.Errorf("%s create %v: exit %d %q, want %q", filepath.Base(cli), c.args, r.code, r.stderr, c.want)
				}
			}
		}
		if r := d.run(dockerCLI, "ps", "--filter", "health=sick"); r.code == 0 || !strings.Contains(r.stderr, "Unrecognised filter value for health: sick") {
			t.Errorf("ps --filter health=sick: exit %d %s", r.code, r.stderr)
		}
	})

	// The status and the monitor survive a daemon restart.
	d.t = top
	id := d.mustDocker("run", "-d", "--health-cmd", "echo ok", "--health-interval", "200ms", "busybox", "sleep", "60")
	d.waitHealth(id, "healthy", healthIs("healthy"))
	d.stop()
	d.exited <- nil // stopped: its cleanup has nothing left to do
	d2 := &daemon{t: t, dir: d.dir, sock: d.sock, pidfile: d.pidfile, dataRoot: d.dataRoot, args: d.args, log: d.log}
	d2.cmd = rerun(d)
	d2.start()
	t.Cleanup(func() { d2.run(dockerCLI, "rm", "-f", id) }) // before d2 stops
	d = d2
	s := d.inspectHealth(dockerCLI, id)
	if s.State.Health == nil || s.State.Health.Status != "healthy" {
		t.Fatalf("health after a daemon restart: %+v", s.State.Health)
	}
	last := s.State.Health.lastProbe()
	d.waitHealth(id, "a probe by the new daemon", func(s healthState) bool { return s.State.Health.lastProbe().After(last) })
}
