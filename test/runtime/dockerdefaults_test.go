package runtime_test

import (
	"slices"
	"testing"

	"github.com/berthproject/berth/internal/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestDockerDefaultSpecEnforced runs the spec berthd generates for a plain `docker run` and checks
// Docker's defaults from inside the container.
func TestDockerDefaultSpecEnforced(t *testing.T) {
	e := newEnv(t)
	b := e.bundle(func(s *specs.Spec) {
		g, err := oci.Generate(&oci.Container{ID: "c0ffee0123456789abcdef", Args: s.Process.Args, Rootfs: "rootfs", Env: []string{"FOO=bar"}, PidsLimit: 64})
		if err != nil {
			t.Fatal(err)
		}
		*s = *g
	}, "-write", "/proc/sys/kernel/hostname", "-stat", "/proc/kcore", "-stat", "/dev/shm")
	r := e.runChecker(b)
	if r.Hostname != "c0ffee012345" {
		t.Errorf("hostname %q", r.Hostname)
	}
	if got := r.Capabilities.Effective.Names; len(got) != 14 || !slices.Contains(got, "CAP_NET_RAW") || slices.Contains(got, "CAP_SYS_ADMIN") {
		t.Errorf("effective caps %v", got)
	}
	if r.Seccomp.Mode != 2 {
		t.Errorf("seccomp mode %d, want 2 (filter)", r.Seccomp.Mode)
	}
	if w := r.Writes["/proc/sys/kernel/hostname"]; w.OK {
		t.Error("/proc/sys is writable")
	}
	if m := r.Mount("/dev/shm"); m == nil || !slices.Contains(m.SuperOptions, "size=65536k") {
		t.Errorf("/dev/shm mount %+v", m)
	}
	if v, _ := r.Getenv("FOO"); v != "bar" {
		t.Errorf("env %v", r.Env)
	}
	if got := r.Cgroup.Limits["pids/pids.max"]; r.Cgroup.Version == 1 && got != "64" {
		t.Errorf("pids.max %q", got)
	}
}
