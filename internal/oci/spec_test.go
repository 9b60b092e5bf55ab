package oci

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berthproject/berth/internal/errdefs"
)

func TestDockerDefaults(t *testing.T) {
	s, err := Generate(&Container{ID: "0123456789abcdef0123", Args: []string{"sh"}, Rootfs: "/rootfs", Env: []string{"FOO=bar"}})
	if err != nil {
		t.Fatal(err)
	}
	if s.Hostname != "0123456789ab" {
		t.Errorf("hostname %q", s.Hostname)
	}
	if got := s.Process.Capabilities.Bounding; len(got) != 14 || !slices.Contains(got, "CAP_NET_BIND_SERVICE") || slices.Contains(got, "CAP_SYS_ADMIN") {
		t.Errorf("capabilities %v", got)
	}
	if s.Linux.Seccomp == nil || len(s.Linux.Seccomp.Syscalls) == 0 {
		t.Error("no seccomp profile")
	}
	if !slices.Contains(s.Linux.MaskedPaths, "/proc/kcore") || !slices.Contains(s.Linux.ReadonlyPaths, "/proc/sys") {
		t.Error("masked/read-only paths missing")
	}
	var shm string
	for _, m := range s.Mounts {
		if m.Destination == "/dev/shm" {
			shm = strings.Join(m.Options, ",")
		}
	}
	if !strings.Contains(shm, "size=67108864") {
		t.Errorf("/dev/shm options %q", shm)
	}
	env := strings.Join(s.Process.Env, " ")
	if !strings.Contains(env, "FOO=bar") || !strings.Contains(env, "PATH="+DefaultPath) || !strings.Contains(env, "HOSTNAME=0123456789ab") {
		t.Errorf("env %v", s.Process.Env)
	}
	if s.Process.Cwd != "/" {
		t.Errorf("cwd %q", s.Process.Cwd)
	}
}

func TestCapsAndPrivileged(t *testing.T) {
	host := append(append([]string{}, DefaultCapabilities...), "CAP_SYS_ADMIN", "CAP_NET_ADMIN")
	s, _ := Generate(&Container{ID: "x123456789012", CapAdd: []string{"net_admin"}, CapDrop: []string{"CAP_CHOWN", "kill"}, HostCaps: host})
	caps := s.Process.Capabilities.Bounding
	if !slices.Contains(caps, "CAP_NET_ADMIN") || slices.Contains(caps, "CAP_CHOWN") || slices.Contains(caps, "CAP_KILL") || len(caps) != 13 {
		t.Errorf("add/drop: %v", caps)
	}
	s, _ = Generate(&Container{ID: "x123456789012", CapDrop: []string{"ALL"}, CapAdd: []string{"CAP_KILL"}})
	if got := s.Process.Capabilities.Bounding; len(got) != 1 || got[0] != "CAP_KILL" {
		t.Errorf("drop all, add kill: %v", got)
	}
	s, _ = Generate(&Container{ID: "x123456789012", Privileged: true, HostCaps: host})
	if len(s.Process.Capabilities.Bounding) != len(host) || s.Linux.Seccomp != nil || len(s.Linux.MaskedPaths) != 0 {
		t.Errorf("privileged: caps %d, seccomp %v, masked %v", len(s.Process.Capabilities.Bounding), s.Linux.Seccomp != nil, s.Linux.MaskedPaths)
	}
}

func TestResources(t *testing.T) {
	s, _ := Generate(&Container{ID: "x123456789012", Memory: 64 << 20, NanoCPUs: 1500000000, PidsLimit: 50})
	r := s.Linux.Resources
	if *r.Memory.Limit != 64<<20 || *r.Memory.Swap != 128<<20 || *r.CPU.Quota != 150000 || *r.CPU.Period != 100000 || *r.Pids.Limit != 50 {
		t.Errorf("resources %+v %+v %+v", r.Memory, r.CPU, r.Pids)
	}
}

func TestResolveUser(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\nbob:x:1000:\nwheel:x:10:bob,alice\naudio:x:29:bob\n"), 0o644)
	cases := []struct {
		spec string
		want User
	}{
		{"", User{0, 0, nil}},
		{"bob", User{1000, 1000, []uint32{10, 29}}},
		{"1000", User{1000, 1000, []uint32{10, 29}}},
		{"bob:wheel", User{1000, 10, []uint32{29}}},
		{"4242", User{4242, 0, nil}},
		{"4242:77", User{4242, 77, nil}},
	}
	for _, c := range cases {
		got, err := ResolveUser(root, c.spec)
		if err != nil || got.UID != c.want.UID || got.GID != c.want.GID || !slices.Equal(got.AdditionalGids, c.want.AdditionalGids) {
			t.Errorf("ResolveUser(%q) = %+v, %v; want %+v", c.spec, got, err, c.want)
		}
	}
	if _, err := ResolveUser(root, "nosuch"); !errdefs.Is(err, errdefs.KindInvalidArgument) || !strings.Contains(err.Error(), "unable to find user nosuch") {
		t.Errorf("missing user: %v", err)
	}
	if _, err := ResolveUser(root, "bob:nogroup"); err == nil || !strings.Contains(err.Error(), "unable to find group nogroup") {
		t.Errorf("missing group: %v", err)
	}
}

func TestResolveUserStaysInRoot(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(outside, "passwd"), []byte("evil:x:0:0::/:/bin/sh\n"), 0o644)
	os.Symlink(outside, filepath.Join(root, "etc")) // /etc -> a host directory
	if _, err := ResolveUser(root, "evil"); err == nil {
		t.Fatal("read the host's passwd through a symlink")
	}
}
