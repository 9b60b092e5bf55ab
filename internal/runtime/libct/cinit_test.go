package libct

import (
	"bytes"
	"os"
	"testing"

	"github.com/berthproject/berth/internal/runtime/initproc"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// planConfig is a create config for DefaultSpec without its cgroup mount (which reads the init's
// /proc/<pid>/cgroup).
func planConfig() *initproc.Config {
	s := DefaultSpec()
	s.Process.Terminal = false
	var mounts []specs.Mount
	for _, m := range s.Mounts {
		if m.Type != "cgroup" {
			mounts = append(mounts, m)
		}
	}
	s.Mounts = mounts
	return &initproc.Config{Mode: "create", Process: s.Process, Spec: s, Rootfs: "/bundle/rootfs", FifoFd: 4,
		MountNS: true, UTSNS: true}
}

func TestCInitPlanCoversDefaultSpec(t *testing.T) {
	t.Setenv(GoInitEnv, "")
	plan, ok := cinitPlan(planConfig(), os.Getpid())
	if !ok {
		t.Fatal("no C init plan for runc's default spec")
	}
	for _, want := range [][]byte{[]byte("/bundle/rootfs\x00"), []byte("/proc/kcore\x00"), []byte("sh\x00")} {
		if !bytes.Contains(plan, want) {
			t.Errorf("plan lacks %q", want)
		}
	}
}

func TestCInitPlanLeavesTheRestToGo(t *testing.T) {
	t.Setenv(GoInitEnv, "")
	cases := map[string]func(*initproc.Config){
		"terminal":       func(c *initproc.Config) { c.Process.Terminal = true },
		"user namespace": func(c *initproc.Config) { c.UserNS = true },
		"no mount ns":    func(c *initproc.Config) { c.MountNS = false },
		"no pivot":       func(c *initproc.Config) { c.NoPivot = true },
		"exec":           func(c *initproc.Config) { c.Mode = "exec" },
		"shared root":    func(c *initproc.Config) { c.Spec.Linux.RootfsPropagation = "shared" },
		"createContainer": func(c *initproc.Config) {
			c.Spec.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{{Path: "/bin/true"}}}
		},
		"startContainer": func(c *initproc.Config) {
			c.Spec.Hooks = &specs.Hooks{StartContainer: []specs.Hook{{Path: "/bin/true"}}}
		},
		"NUL in an arg":     func(c *initproc.Config) { c.Process.Args = []string{"a\x00b"} },
		"bad mount option":  func(c *initproc.Config) { c.Spec.Mounts[0].Options = []string{"idmap"} },
		"unknown rlimit":    func(c *initproc.Config) { c.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOPE"}} },
		"forced by the env": func(c *initproc.Config) { os.Setenv(GoInitEnv, "1") },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			t.Setenv(GoInitEnv, "")
			cfg := planConfig()
			mutate(cfg)
			if _, ok := cinitPlan(cfg, os.Getpid()); ok {
				t.Errorf("%s: the C init was chosen", name)
			}
		})
	}
	// Hooks that run in the runtime do not need the Go init.
	cfg := planConfig()
	cfg.Spec.Hooks = &specs.Hooks{Poststart: []specs.Hook{{Path: "/bin/true"}}, Poststop: []specs.Hook{{Path: "/bin/true"}}}
	if _, ok := cinitPlan(cfg, os.Getpid()); !ok {
		t.Error("poststart/poststop hooks sent the container to the Go init")
	}
}
