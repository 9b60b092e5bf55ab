package runtime_test

// Namespace tests: joining another container's namespace by path, and user namespaces.

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func lcNSLink(t *testing.T, pid int, ns string) string {
	t.Helper()
	l, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// lcSetNSPath replaces (or adds) the namespace of type typ with one joined at path.
func lcSetNSPath(s *specs.Spec, typ specs.LinuxNamespaceType, path string) {
	for i, ns := range s.Linux.Namespaces {
		if ns.Type == typ {
			s.Linux.Namespaces[i].Path = path
			return
		}
	}
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: typ, Path: path})
}

// TestJoinNetNamespace runs a container that joins a running sleeper's network namespace by path:
// it shares that namespace and nothing else.
func TestJoinNetNamespace(t *testing.T) {
	e := newEnv(t)
	owner := e.id()
	pid := e.lcRunDetached(e.bundle(sleeper(nil)), owner)
	ownerNet, ownerMnt, ownerPid := lcNSLink(t, pid, "net"), lcNSLink(t, pid, "mnt"), lcNSLink(t, pid, "pid")
	if ownerNet == hostNS(t, "net") {
		t.Fatalf("the sleeper shares the host's net namespace")
	}

	b := e.bundle(func(s *specs.Spec) {
		lcSetNSPath(s, specs.NetworkNamespace, "/proc/"+strconv.Itoa(pid)+"/ns/net")
	})
	r := e.runChecker(b)
	if r.Namespaces["net"] != ownerNet {
		t.Errorf("net namespace = %q, want the sleeper's %q", r.Namespaces["net"], ownerNet)
	}
	if r.Namespaces["mnt"] == "" || r.Namespaces["mnt"] == ownerMnt || r.Namespaces["mnt"] == hostNS(t, "mnt") {
		t.Errorf("mnt namespace = %q (sleeper %q, host %q): want a new one", r.Namespaces["mnt"], ownerMnt, hostNS(t, "mnt"))
	}
	if r.Namespaces["pid"] == "" || r.Namespaces["pid"] == ownerPid || r.Namespaces["pid"] == hostNS(t, "pid") {
		t.Errorf("pid namespace = %q (sleeper %q, host %q): want a new one", r.Namespaces["pid"], ownerPid, hostNS(t, "pid"))
	}
	if r.Pid != 1 {
		t.Errorf("pid in its own pid namespace = %d, want 1", r.Pid)
	}
	// The owner is unaffected by the joiner coming and going.
	if st := e.ociState(owner); st.Status != specs.StateRunning || lcNSLink(t, pid, "net") != ownerNet {
		t.Errorf("owner after the joiner ran: status %q", st.Status)
	}
	e.mustRT("delete", "--force", owner)
}

// TestJoinMissingNamespace checks that a namespace path that does not exist fails create and
// leaves nothing behind.
func TestJoinMissingNamespace(t *testing.T) {
	e := newEnv(t)
	id := e.id()
	b := e.bundle(sleeper(func(s *specs.Spec) {
		lcSetNSPath(s, specs.NetworkNamespace, "/proc/999999999/ns/net")
	}))
	if r := e.rt("create", "--bundle", b, id); r.code == 0 {
		t.Fatalf("create joining a missing namespace succeeded")
	}
	if r := e.rt("state", id); r.code == 0 {
		t.Errorf("state of the failed container succeeded: %s", r.stdout)
	}
	if _, err := os.Stat(lcDefaultCgroupDir(id)); err == nil {
		t.Errorf("cgroup %s left after a failed create", lcDefaultCgroupDir(id))
	}
}

// lcUserNS adds a new user namespace mapping container ids 0-65535 to host 100000-165535.
func lcUserNS(s *specs.Spec) {
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
}

// lcUserNSBundle is e.bundle for a user-namespaced container. The init runs as host uid 100000,
// which must be able to reach the rootfs: t.TempDir() makes 0700 directories, so the bundle and
// its parent are opened to search (runc fails on a 0700 path just the same: "mount ... permission
// denied").
func (e *env) lcUserNSBundle(mutate func(*specs.Spec), checkerArgs ...string) string {
	e.t.Helper()
	b := e.bundle(func(s *specs.Spec) {
		lcUserNS(s)
		if mutate != nil {
			mutate(s)
		}
	}, checkerArgs...)
	for _, d := range []string{b, filepath.Dir(b)} {
		if err := os.Chmod(d, 0o711); err != nil {
			e.t.Fatal(err)
		}
	}
	return b
}

// lcRootlessMounts changes the default mounts the way `runc spec --rootless` does: no cgroup
// mount, and /sys bound from the host instead of a new sysfs.
func lcRootlessMounts(s *specs.Spec) {
	var ms []specs.Mount
	for _, m := range s.Mounts {
		switch m.Destination {
		case "/sys/fs/cgroup":
			continue
		case "/sys":
			m = specs.Mount{Destination: "/sys", Type: "none", Source: "/sys", Options: []string{"rbind", "nosuid", "noexec", "nodev", "ro"}}
		}
		ms = append(ms, m)
	}
	s.Mounts = ms
}

// TestUserNamespace runs the checker in a new user namespace. runc 1.1 runs the default spec's
// mounts (sysfs, cgroup) in a user namespace as they are; the rootless-style mounts are a second
// case, to tell a mount problem from a general one.
func TestUserNamespace(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mounts func(*specs.Spec)
	}{
		{"default-mounts", nil},
		{"rootless-mounts", lcRootlessMounts},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			b := e.lcUserNSBundle(tc.mounts, "-stat", "/checker")
			r := e.runChecker(b)
			if r.UID.Real != 0 || r.UID.Effective != 0 || r.GID.Real != 0 || r.GID.Effective != 0 {
				t.Errorf("uid/gid inside = %+v/%+v, want 0", r.UID, r.GID)
			}
			if r.Namespaces["user"] == "" || r.Namespaces["user"] == hostNS(t, "user") {
				t.Errorf("user namespace = %q, host has %q: want a new one", r.Namespaces["user"], hostNS(t, "user"))
			}
			// Files owned by host root are unmapped inside: they show as the overflow uid.
			overflow, _ := os.ReadFile("/proc/sys/kernel/overflowuid")
			if st := r.Stats["/checker"]; !st.Exists || strconv.Itoa(int(st.UID)) != strings.TrimSpace(string(overflow)) {
				t.Errorf("/checker (host uid 0) seen inside as %+v, want the overflow uid %s", st, overflow)
			}
			for _, ns := range []string{"mnt", "pid", "net"} {
				if r.Namespaces[ns] == "" || r.Namespaces[ns] == hostNS(t, ns) {
					t.Errorf("namespace %s = %q: want a new one", ns, r.Namespaces[ns])
				}
			}
		})
	}
}

// TestUserNamespaceHostView checks a user-namespaced sleeper from the host: its ids are the
// mapped ones and its uid_map/gid_map are what the spec asked for.
func TestUserNamespaceHostView(t *testing.T) {
	e := newEnv(t)
	id := e.id()
	pid := e.lcRunDetached(e.lcUserNSBundle(sleeper(nil)), id)
	if got := strings.Fields(lcProcField(pid, "Uid")); strings.Join(got, " ") != "100000 100000 100000 100000" {
		t.Errorf("host view of Uid = %v, want 100000 x4", got)
	}
	if got := strings.Fields(lcProcField(pid, "Gid")); strings.Join(got, " ") != "100000 100000 100000 100000" {
		t.Errorf("host view of Gid = %v, want 100000 x4", got)
	}
	for _, f := range []string{"uid_map", "gid_map"} {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/" + f)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(strings.Fields(string(b)), " "); got != "0 100000 65536" {
			t.Errorf("%s = %q, want \"0 100000 65536\"", f, got)
		}
	}
	if lcNSLink(t, pid, "user") == hostNS(t, "user") {
		t.Errorf("sleeper shares the host's user namespace")
	}
	// An exec joins the user namespace too.
	if r := e.rt("exec", id, "sh", "-c", "id -u; cat /proc/self/uid_map"); r.code != 0 || strings.Join(strings.Fields(r.stdout), " ") != "0 0 100000 65536" {
		t.Errorf("exec in the user namespace: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	e.mustRT("delete", "--force", id)
	lcWaitGone(t, pid, 5*time.Second)
}
