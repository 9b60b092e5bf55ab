package oci

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berthproject/berth/internal/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
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
		{"", User{0, 0, []uint32{0}, "/root"}},
		{"bob", User{1000, 1000, []uint32{1000, 10, 29}, "/home/bob"}},
		{"1000", User{1000, 1000, []uint32{1000, 10, 29}, "/home/bob"}},
		{"bob:wheel", User{1000, 10, []uint32{10, 29}, "/home/bob"}},
		{"4242", User{4242, 0, []uint32{0}, "/"}},
		{"4242:77", User{4242, 77, []uint32{77}, "/"}},
	}
	for _, c := range cases {
		got, err := ResolveUser(root, c.spec)
		if err != nil || got.UID != c.want.UID || got.GID != c.want.GID || !slices.Equal(got.AdditionalGids, c.want.AdditionalGids) || got.Home != c.want.Home {
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

func TestUserMountsInitAndShm(t *testing.T) {
	tmp, err := TmpfsMount("/dev/shm", "size=1m")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Generate(&Container{ID: "x123456789012", Args: []string{"sh", "-c", "true"}, ShmSize: 8 << 20, InitPath: "/usr/bin/berth-init",
		Mounts:  []specs.Mount{BindMount("/host/a/b", "/a/b", true, ""), BindMount("/host/a", "/a", false, "rslave"), tmp},
		Rlimits: []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 10, Hard: 20}}, Sysctls: map[string]string{"net.ipv4.ip_forward": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{InitDestination, "--", "sh", "-c", "true"}; !slices.Equal(s.Process.Args, want) {
		t.Errorf("args %q", s.Process.Args)
	}
	var dsts []string
	byDst := map[string]specs.Mount{}
	for _, m := range s.Mounts {
		dsts = append(dsts, m.Destination)
		byDst[m.Destination] = m
	}
	// The user's /dev/shm replaces the default; parents are mounted before children.
	if strings.Count(strings.Join(dsts, " "), "/dev/shm") != 1 || byDst["/dev/shm"].Type != "tmpfs" || !slices.Contains(byDst["/dev/shm"].Options, "size=1m") {
		t.Errorf("/dev/shm: %v %+v", dsts, byDst["/dev/shm"])
	}
	if slices.Index(dsts, "/a") > slices.Index(dsts, "/a/b") {
		t.Errorf("child mounted before parent: %v", dsts)
	}
	if got := byDst["/a/b"].Options; !slices.Equal(got, []string{"rbind", "ro", "rprivate"}) {
		t.Errorf("ro bind options %q", got)
	}
	if got := byDst["/a"].Options; !slices.Equal(got, []string{"rbind", "rslave"}) {
		t.Errorf("rslave bind options %q", got)
	}
	if m := byDst[InitDestination]; m.Source != "/usr/bin/berth-init" || !slices.Contains(m.Options, "ro") {
		t.Errorf("init mount %+v", m)
	}
	if len(s.Process.Rlimits) != 1 || s.Linux.Sysctl["net.ipv4.ip_forward"] != "1" {
		t.Errorf("rlimits %v sysctls %v", s.Process.Rlimits, s.Linux.Sysctl)
	}
	// Without a user /dev/shm, ShmSize sizes the default one.
	s, _ = Generate(&Container{ID: "x123456789012", ShmSize: 8 << 20})
	for _, m := range s.Mounts {
		if m.Destination == "/dev/shm" && !slices.Contains(m.Options, "size=8388608") {
			t.Errorf("shm options %q", m.Options)
		}
	}
}

func TestTmpfsOptionsMergeAsDocker(t *testing.T) {
	m, err := TmpfsMount("/t", "size=1m,exec,ro,size=2m")
	if err != nil {
		t.Fatal(err)
	}
	// Later options win within a family; Docker's defaults come first.
	if want := []string{"nosuid", "nodev", "rprivate", "exec", "ro", "size=2m"}; !slices.Equal(m.Options, want) {
		t.Errorf("options %q, want %q", m.Options, want)
	}
	if _, err := TmpfsMount("/t", "color=red"); err == nil || err.Error() != `invalid tmpfs option ["color" "red"]` {
		t.Errorf("bad option: %v", err)
	}
}

func TestPrivilegedGetsHostDevices(t *testing.T) {
	devs, err := HostDevices()
	if err != nil {
		t.Fatal(err)
	}
	var null bool
	for _, d := range devs {
		if d.Path == "/dev/null" && d.Type == "c" && d.Major == 1 && d.Minor == 3 {
			null = true
		}
		if strings.HasPrefix(d.Path, "/dev/pts/") || d.Path == "/dev/console" {
			t.Errorf("listed %s", d.Path)
		}
	}
	if !null {
		t.Errorf("/dev/null not among %d host devices", len(devs))
	}
	s, _ := Generate(&Container{ID: "x123456789012", Privileged: true, HostDevices: devs})
	if len(s.Linux.Devices) != len(devs) {
		t.Errorf("privileged spec has %d devices, host %d", len(s.Linux.Devices), len(devs))
	}
	s, _ = Generate(&Container{ID: "x123456789012", HostDevices: devs})
	if len(s.Linux.Devices) != 0 {
		t.Errorf("unprivileged spec got host devices")
	}
}
