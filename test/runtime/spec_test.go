package runtime_test

import (
	"os"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func ptr[T any](v T) *T { return &v }

// TestSpecEnforced runs one container with many settings and checks each from the inside.
func TestSpecEnforced(t *testing.T) {
	e := newEnv(t)
	capList := []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"}
	b := e.bundle(func(s *specs.Spec) {
		s.Hostname = "berth-test"
		s.Domainname = "example.test"
		s.Process.Env = []string{"PATH=/bin:/sbin", "FOO=bar"}
		s.Process.Cwd = "/tmp"
		s.Process.User = specs.User{UID: 1000, GID: 1001, AdditionalGids: []uint32{10, 20}, Umask: ptr(uint32(0o027))}
		s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 512, Hard: 600}, {Type: "RLIMIT_CORE", Soft: 0, Hard: 0}}
		s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: capList, Effective: capList, Permitted: capList, Inheritable: capList, Ambient: []string{"CAP_NET_RAW"}}
		s.Process.NoNewPrivileges = true
		s.Process.OOMScoreAdj = ptr(500)
		s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1", "kernel.shmmni": "2048"}
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: ptr(int64(64 << 20))}
		s.Linux.Resources.Pids = &specs.LinuxPids{Limit: ptr(int64(77))}
		s.Linux.Resources.CPU = &specs.LinuxCPU{Shares: ptr(uint64(512)), Quota: ptr(int64(50000)), Period: ptr(uint64(100000))}
	}, "-stat", "/dev/null", "-stat", "/dev/ptmx", "-stat", "/proc/keys",
		"-write", "/etc/hostname", "-write", "/proc/sys/kernel/domainname", "-write", "/tmp/ok",
		"-sysctl", "net.ipv4.ip_forward", "-sysctl", "kernel.shmmni")
	r := e.runChecker(b)

	if r.Hostname != "berth-test" || r.Domainname != "example.test" {
		t.Errorf("hostname/domainname = %q/%q", r.Hostname, r.Domainname)
	}
	if r.Pid != 1 {
		t.Errorf("pid in new pid namespace = %d, want 1", r.Pid)
	}
	if r.Cwd != "/tmp" {
		t.Errorf("cwd = %q", r.Cwd)
	}
	if r.UID.Effective != 1000 || r.UID.Real != 1000 || r.GID.Effective != 1001 {
		t.Errorf("uid/gid = %+v/%+v", r.UID, r.GID)
	}
	if len(r.Groups) != 2 || r.Groups[0] != 10 || r.Groups[1] != 20 {
		t.Errorf("groups = %v", r.Groups)
	}
	if r.Umask != "0027" {
		t.Errorf("umask = %q", r.Umask)
	}
	if len(r.Env) != 2 || func() string { v, _ := r.Getenv("FOO"); return v }() != "bar" {
		t.Errorf("env = %v", r.Env)
	}
	if rl := r.Rlimits["RLIMIT_NOFILE"]; rl.Soft != 512 || rl.Hard != 600 {
		t.Errorf("RLIMIT_NOFILE = %+v", rl)
	}
	if rl := r.Rlimits["RLIMIT_CORE"]; rl.Soft != 0 || rl.Hard != 0 {
		t.Errorf("RLIMIT_CORE = %+v", rl)
	}
	if got := strings.Join(r.Capabilities.Bounding.Names, ","); got != "CAP_CHOWN,CAP_KILL,CAP_NET_RAW" {
		t.Errorf("bounding caps = %v", got)
	}
	// A non-root process keeps across execve only its ambient capabilities.
	for _, set := range []struct {
		name string
		got  []string
	}{{"permitted", r.Capabilities.Permitted.Names}, {"effective", r.Capabilities.Effective.Names}, {"ambient", r.Capabilities.Ambient.Names}} {
		if strings.Join(set.got, ",") != "CAP_NET_RAW" {
			t.Errorf("%s caps = %v, want the ambient CAP_NET_RAW", set.name, set.got)
		}
	}
	if !r.NoNewPrivs {
		t.Error("no_new_privs not set")
	}
	if r.OOMScoreAdj != 500 {
		t.Errorf("oom_score_adj = %d", r.OOMScoreAdj)
	}
	for _, ns := range []string{"mnt", "uts", "ipc", "pid", "net", "cgroup"} {
		if r.Namespaces[ns] == "" || r.Namespaces[ns] == hostNS(t, ns) {
			t.Errorf("namespace %s = %q, host has %q: not a new namespace", ns, r.Namespaces[ns], hostNS(t, ns))
		}
	}
	if r.Namespaces["user"] != hostNS(t, "user") {
		t.Errorf("user namespace changed without being asked for")
	}
	if st := r.Stats["/dev/null"]; st.Type != "char" || st.Major != 1 || st.Minor != 3 || st.Mode != "0666" {
		t.Errorf("/dev/null = %+v", st)
	}
	if st := r.Stats["/dev/ptmx"]; st.Type != "symlink" || st.Target != "pts/ptmx" {
		t.Errorf("/dev/ptmx = %+v", st)
	}
	if m := r.Mount("/proc/keys"); m == nil {
		t.Error("masked path /proc/keys is not masked")
	}
	if st := r.Stats["/proc/keys"]; st.Type != "char" || st.Major != 1 || st.Minor != 3 {
		t.Errorf("masked /proc/keys = %+v, want /dev/null bound over it", st)
	}
	if w := r.Writes["/etc/hostname"]; w.OK {
		t.Errorf("write to /etc/hostname as uid 1000 succeeded")
	}
	if w := r.Writes["/proc/sys/kernel/domainname"]; w.OK {
		t.Errorf("write to read-only path /proc/sys succeeded")
	}
	if m := r.Mount("/proc/sys"); m == nil || !m.HasOption("ro") {
		t.Errorf("/proc/sys mount = %+v, want read-only", m)
	}
	if w := r.Writes["/tmp/ok"]; w.OK || w.Errno != "EROFS" {
		t.Errorf("write to /tmp on a read-only root: %+v, want EROFS", w)
	}
	if v := r.Sysctls["net.ipv4.ip_forward"].Value; v != "1" {
		t.Errorf("sysctl net.ipv4.ip_forward = %q", v)
	}
	if v := r.Sysctls["kernel.shmmni"].Value; v != "2048" {
		t.Errorf("sysctl kernel.shmmni = %q", v)
	}
	host, _ := os.ReadFile("/proc/sys/kernel/shmmni")
	if strings.TrimSpace(string(host)) == "2048" {
		t.Errorf("ipc sysctl leaked to the host")
	}
	var wantLimits map[string]string
	if r.Cgroup.Version == 2 {
		wantLimits = map[string]string{"memory.max": "67108864", "pids.max": "77", "cpu.max": "50000 100000"}
	} else {
		wantLimits = map[string]string{"memory/memory.limit_in_bytes": "67108864", "pids/pids.max": "77",
			"cpu/cpu.shares": "512", "cpu/cpu.cfs_quota_us": "50000", "cpu/cpu.cfs_period_us": "100000"}
	}
	for k, v := range wantLimits {
		if got := r.Cgroup.Limits[k]; got != v {
			t.Errorf("cgroup %s = %q, want %q (all: %v)", k, got, v, r.Cgroup.Limits)
		}
	}
	for _, fd := range r.FDs {
		if fd.FD > 2 {
			t.Errorf("fd %d (%s) leaked into the container", fd.FD, fd.Target)
		}
	}
}

// TestRootCapabilities checks that a root process gets exactly the capability sets it asks for.
func TestRootCapabilities(t *testing.T) {
	e := newEnv(t)
	capList := []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_SETUID"}
	b := e.bundle(func(s *specs.Spec) {
		s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: capList, Effective: capList[:2], Permitted: capList}
	})
	r := e.runChecker(b)
	c := r.Capabilities
	if got := strings.Join(c.Bounding.Names, ","); got != "CAP_CHOWN,CAP_DAC_OVERRIDE,CAP_SETUID" {
		t.Errorf("bounding = %s", got)
	}
	if got := strings.Join(c.Permitted.Names, ","); got != "CAP_CHOWN,CAP_DAC_OVERRIDE,CAP_SETUID" {
		t.Errorf("permitted = %s", got)
	}
	// For uid 0 the kernel raises the effective set to the permitted one at execve (no securebits
	// are set, as with runc and crun).
	if got := strings.Join(c.Effective.Names, ","); got != "CAP_CHOWN,CAP_DAC_OVERRIDE,CAP_SETUID" {
		t.Errorf("effective = %s", got)
	}
	if len(c.Inheritable.Names) != 0 || len(c.Ambient.Names) != 0 {
		t.Errorf("inheritable/ambient = %v/%v, want none", c.Inheritable.Names, c.Ambient.Names)
	}
}
