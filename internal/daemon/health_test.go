package daemon

import (
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/berthproject/berth/internal/container"
	ctypes "github.com/moby/moby/api/types/container"
)

func TestMergeHealthcheckFieldByField(t *testing.T) {
	img := &ctypes.HealthConfig{Test: []string{"CMD", "check"}, Interval: time.Second, Timeout: 2 * time.Second,
		StartPeriod: 3 * time.Second, StartInterval: 4 * time.Second, Retries: 5}
	cfg := &ctypes.Config{}
	mergeHealthcheck(cfg, img)
	if !reflect.DeepEqual(cfg.Healthcheck, img) || cfg.Healthcheck == img {
		t.Errorf("none of its own: %+v", cfg.Healthcheck)
	}
	cfg = &ctypes.Config{Healthcheck: &ctypes.HealthConfig{Timeout: time.Minute, Retries: 1}}
	mergeHealthcheck(cfg, img)
	want := &ctypes.HealthConfig{Test: []string{"CMD", "check"}, Interval: time.Second, Timeout: time.Minute,
		StartPeriod: 3 * time.Second, StartInterval: 4 * time.Second, Retries: 1}
	if !reflect.DeepEqual(cfg.Healthcheck, want) {
		t.Errorf("merged: %+v", cfg.Healthcheck)
	}
	cfg = &ctypes.Config{Healthcheck: &ctypes.HealthConfig{Test: []string{"NONE"}}}
	mergeHealthcheck(cfg, img)
	if cfg.Healthcheck.Test[0] != "NONE" {
		t.Errorf("NONE replaced: %+v", cfg.Healthcheck)
	}
	cfg = &ctypes.Config{}
	mergeHealthcheck(cfg, nil)
	if cfg.Healthcheck != nil {
		t.Errorf("from no image healthcheck: %+v", cfg.Healthcheck)
	}
}

func TestValidateHealthcheckAsDockerd(t *testing.T) {
	for h, want := range map[*ctypes.HealthConfig]string{
		nil:                              "",
		{Interval: time.Millisecond}:     "",
		{Interval: time.Microsecond}:     "Interval in Healthcheck cannot be less than 1ms",
		{Timeout: 1}:                     "Timeout in Healthcheck cannot be less than 1ms",
		{Retries: -1}:                    "Retries in Healthcheck cannot be negative",
		{StartPeriod: 10}:                "StartPeriod in Healthcheck cannot be less than 1ms",
		{StartInterval: time.Nanosecond}: "StartInterval in Healthcheck cannot be less than 1ms",
	} {
		err := validateHealthcheck(h)
		if (err == nil) != (want == "") || err != nil && err.Error() != want {
			t.Errorf("%+v: %v, want %q", h, err, want)
		}
	}
}

func TestProbeCommand(t *testing.T) {
	c := func(test ...string) *container.Container {
		return &container.Container{Config: &ctypes.Config{Healthcheck: &ctypes.HealthConfig{Test: test}}}
	}
	for _, tc := range []struct {
		c    *container.Container
		want []string
	}{
		{c("CMD", "check", "-v"), []string{"check", "-v"}},
		{c("CMD-SHELL", "check || exit 1"), []string{"/bin/sh", "-c", "check || exit 1"}},
		{c("NONE"), nil},
		{c("CMD"), nil}, // nothing to run: no probe rather than a crash
		{c(), nil},
		{c("WHAT", "x"), nil},
		{&container.Container{Config: &ctypes.Config{}}, nil},
	} {
		if got := probeCommand(tc.c); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%+v: %q, want %q", tc.c.Config.Healthcheck, got, tc.want)
		}
	}
	sh := c("CMD-SHELL", "x")
	sh.Config.Shell = []string{"/bin/bash", "-ec"}
	if got := probeCommand(sh); !reflect.DeepEqual(got, []string{"/bin/bash", "-ec", "x"}) {
		t.Errorf("SHELL: %q", got)
	}
}

func TestLimitedBufferKeepsDockersLength(t *testing.T) {
	var b limitedBuffer
	b.Write([]byte(strings.Repeat("a", 4000)))
	b.Write([]byte(strings.Repeat("b", 200)))
	if got := b.String(); len(got) != probeOutputMax+3 || !strings.HasSuffix(got, "b...") {
		t.Errorf("%d bytes, ends %q", len(got), got[len(got)-5:])
	}
}

// TestRecordProbeStatusMachine: healthy on a success, failures uncounted while starting within
// the start period, unhealthy at the retries, five results kept, each change an event.
func TestRecordProbeStatusMachine(t *testing.T) {
	store, err := container.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	d := &Daemon{log: slog.New(slog.NewTextHandler(io.Discard, nil)), containers: store}
	started := time.Now().Add(-time.Minute)
	c := &container.Container{ID: strings.Repeat("c", 64), Name: "h", Status: container.StatusRunning, StartedAt: started,
		Config: &ctypes.Config{Healthcheck: &ctypes.HealthConfig{Test: []string{"CMD", "x"}, StartPeriod: 30 * time.Second, Retries: 2}}}
	if err := store.Save(c); err != nil {
		t.Fatal(err)
	}
	s := d.health.getOrCreate(c.ID)
	s.health.Status = ctypes.Starting
	stop := make(chan struct{})
	probe := func(at time.Duration, code int) ctypes.Health {
		d.recordProbe(c, s, stop, &ctypes.HealthcheckResult{Start: started.Add(at), End: started.Add(at), ExitCode: code})
		return *d.healthOf(c.ID)
	}
	if h := probe(time.Second, 1); h.Status != ctypes.Starting || h.FailingStreak != 0 {
		t.Errorf("failure in the start period: %+v", h)
	}
	if h := probe(40*time.Second, 1); h.Status != ctypes.Starting || h.FailingStreak != 1 {
		t.Errorf("failure after the start period: %+v", h)
	}
	if h := probe(41*time.Second, 0); h.Status != ctypes.Healthy || h.FailingStreak != 0 {
		t.Errorf("success: %+v", h)
	}
	probe(42*time.Second, 1)
	if h := probe(43*time.Second, 1); h.Status != ctypes.Unhealthy || h.FailingStreak != 2 || len(h.Log) != 5 {
		t.Errorf("two failures: %+v", h)
	}
	if h := probe(44*time.Second, 0); len(h.Log) != 5 || h.Log[4].Start != started.Add(44*time.Second) || h.Log[0].Start != started.Add(40*time.Second) {
		t.Errorf("log: %+v", h.Log)
	}
	close(stop)
	if h := probe(45*time.Second, 1); h.Status != ctypes.Healthy || h.Log[4].Start != started.Add(44*time.Second) {
		t.Errorf("a result after the stop counted: %+v", h)
	}
	var actions []string
	past, sub := d.bus.Subscribe()
	sub.Close()
	for _, m := range past {
		actions = append(actions, string(m.Action))
	}
	if want := []string{"health_status: healthy", "health_status: unhealthy", "health_status: healthy"}; !reflect.DeepEqual(actions, want) {
		t.Errorf("events %q", actions)
	}
}
