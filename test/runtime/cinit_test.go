package runtime_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/berthproject/berth/internal/oci"
	"github.com/berthproject/berth/test/checker/report"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The C init (nsenter/cinit.c) builds most containers; the Go init remains for terminals, hooks,
// user namespaces and the rest, and can be forced with BERTH_GO_INIT=1. These tests run the same
// specs through both and require the same container from inside, and the same refusals.

// goInit returns an env on the same state root whose berth-runtime uses the Go init.
func goInit(e *env) *env {
	return &env{t: e.t, root: e.root, extraEnv: []string{"BERTH_GO_INIT=1"}}
}

// runCheckerDebug runs the checker with --debug and reports whether the C init built it.
func (e *env) runCheckerDebug(bundle string) (*report.Report, bool) {
	e.t.Helper()
	r := e.mustRT("--debug", "run", "--bundle", bundle, e.id())
	var rep report.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		e.t.Fatalf("decode checker report: %v\n%s\nstderr: %s", err, r.stdout, r.stderr)
	}
	return &rep, strings.Contains(r.stderr, "(C init)")
}

var nsID = regexp.MustCompile(`\[\d+\]`)

// comparable drops what differs between any two containers (ids, namespace inodes, pids).
func comparable(r *report.Report) report.Report {
	c := *r
	c.Pid, c.Ppid = 0, 0
	c.Namespaces = nil
	c.Cgroup.Proc = ""
	c.Mounts = nil
	for _, m := range r.Mounts {
		m.ID, m.ParentID, m.MajorMinor, m.Optional, m.Root = 0, 0, "", nil, ""
		c.Mounts = append(c.Mounts, m)
	}
	var fds []report.FD
	for _, f := range r.FDs {
		f.Target = nsID.ReplaceAllString(f.Target, "[]")
		if base := filepath.Base(f.Target); base == "stdout" || base == "stderr" {
			f.Target = base // each berth-runtime call gets its own output files
		}
		fds = append(fds, f)
	}
	c.FDs = fds
	return c
}

func TestInitPathsAgree(t *testing.T) {
	e := newEnv(t)
	hostDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(hostDir, "file"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	umask := uint32(0o027)
	oom := 100
	probes := []string{"-stat", "/dev/null", "-stat", "/dev/zero", "-stat", "/dev/ptmx", "-stat", "/dev/fd", "-stat", "/dev/kmsg",
		"-stat", "/work/deep", "-write", "/ro/file", "-write", "/rw/new", "-write", "/etc/probe", "-write", "/proc/sys/kernel/hostname",
		"-sysctl", "net.ipv4.ip_forward", "-write", "/sys/fs/cgroup/probe"}
	specsUnderTest := map[string]func(*specs.Spec){
		// runc's defaults with most of what a spec can ask of the init.
		"rich": func(s *specs.Spec) {
			s.Hostname, s.Domainname = "c-init", "example.org"
			s.Process.Cwd = "/work/deep"
			s.Process.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{10, 20}, Umask: &umask}
			s.Process.Env = append(s.Process.Env, "FOO=bar", "PATH=/bin:/usr/bin")
			s.Process.Rlimits = append(s.Process.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_NPROC", Soft: 100, Hard: 200})
			s.Process.OOMScoreAdj = &oom
			s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_CHOWN", "CAP_SYS_ADMIN")
			s.Process.Capabilities.Permitted = append(s.Process.Capabilities.Permitted, "CAP_CHOWN")
			s.Process.Capabilities.Effective = append(s.Process.Capabilities.Effective, "CAP_CHOWN")
			s.Process.Capabilities.Inheritable = []string{"CAP_CHOWN"}
			s.Process.Capabilities.Ambient = []string{"CAP_CHOWN"}
			s.Process.NoNewPrivileges = false
			s.Mounts = append(s.Mounts,
				specs.Mount{Destination: "/ro", Type: "bind", Source: hostDir, Options: []string{"rbind", "ro", "nosuid"}},
				specs.Mount{Destination: "/rw/file", Type: "bind", Source: filepath.Join(hostDir, "file"), Options: []string{"bind"}},
				specs.Mount{Destination: "/rw", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m", "mode=1777", "rprivate"}},
			)
			s.Linux.Devices = append(s.Linux.Devices, specs.LinuxDevice{Path: "/dev/kmsg", Type: "c", Major: 1, Minor: 11})
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
			s.Root.Readonly = true
		},
		// What berthd generates for `docker run` (Docker's seccomp profile, no_new_privs off).
		"docker": func(s *specs.Spec) {
			g, err := oci.Generate(&oci.Container{ID: "c0ffee0123456789abcdef", Args: s.Process.Args, Rootfs: "rootfs", Env: []string{"FOO=bar"}, PidsLimit: 64})
			if err != nil {
				t.Fatal(err)
			}
			*s = *g
		},
	}
	for name, mutate := range specsUnderTest {
		t.Run(name, func(t *testing.T) {
			e := &env{t: t, root: e.root}
			c, usedC := e.runCheckerDebug(e.bundle(mutate, probes...))
			if !usedC {
				t.Fatalf("the C init did not build this container")
			}
			g, usedC := goInit(e).runCheckerDebug(e.bundle(mutate, probes...))
			if usedC {
				t.Fatalf("BERTH_GO_INIT=1 still used the C init")
			}
			if len(c.Errors) > 0 {
				t.Errorf("checker errors (C init): %v", c.Errors)
			}
			cc, gc := comparable(c), comparable(g)
			cv, gv := reflect.ValueOf(cc), reflect.ValueOf(gc)
			for i := 0; i < cv.NumField(); i++ {
				if !reflect.DeepEqual(cv.Field(i).Interface(), gv.Field(i).Interface()) {
					cj, _ := json.Marshal(cv.Field(i).Interface())
					gj, _ := json.Marshal(gv.Field(i).Interface())
					t.Errorf("%s differs:\n C init: %s\nGo init: %s", cv.Type().Field(i).Name, cj, gj)
				}
			}
			if name == "rich" {
				if c.UID.Effective != 1000 || c.Umask != "0027" || c.Cwd != "/work/deep" || c.Hostname != "c-init" || !c.Capabilities.Ambient.Has("CAP_CHOWN") {
					t.Errorf("C init: uid %+v umask %s cwd %s hostname %s ambient %v", c.UID, c.Umask, c.Cwd, c.Hostname, c.Capabilities.Ambient.Names)
				}
				if w := c.Writes["/ro/file"]; w.OK {
					t.Errorf("write into the read-only bind: %+v", w)
				}
				if w := c.Writes["/etc/probe"]; w.OK {
					t.Errorf("write into the read-only root succeeded")
				}
			}
		})
	}
}

// TestCInitRefusals checks that the C init refuses what the Go init refuses, with a message and
// nothing left behind.
func TestCInitRefusals(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name   string
		mutate func(*specs.Spec)
		want   string
	}{
		{"missing program", func(s *specs.Spec) { s.Process.Args = []string{"no-such-program"} }, `exec: "no-such-program": executable file not found in $PATH`},
		{"missing path", func(s *specs.Spec) { s.Process.Args = []string{"/no/such"} }, `exec: "/no/such": stat /no/such: no such file or directory`},
		{"not executable", func(s *specs.Spec) { s.Process.Args = []string{"/etc/passwd"} }, `exec: "/etc/passwd": permission denied`},
		// CVE-2025-31133: /dev/null replaced (here by the spec, as a race could) is not used to mask.
		{"fake null", func(s *specs.Spec) {
			s.Linux.Devices = append(s.Linux.Devices, specs.LinuxDevice{Path: "/dev/null", Type: "c", Major: 1, Minor: 5})
		}, "not the null device"},
		{"bad bind source", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/x", Type: "bind", Source: "/no/such/dir", Options: []string{"bind"}})
		}, "/no/such/dir"},
	}
	for _, tc := range cases {
		t.Run(strings.ReplaceAll(tc.name, " ", "-"), func(t *testing.T) {
			e := &env{t: t, root: e.root}
			b := e.bundle(tc.mutate)
			for _, rt := range []*env{e, goInit(e)} {
				id := e.id()
				r := rt.rt("--debug", "create", "--bundle", b, id)
				if r.code == 0 {
					rt.rt("delete", "--force", id)
					t.Fatalf("create succeeded (env %v)", rt.extraEnv)
				}
				if !strings.Contains(r.stderr, tc.want) {
					t.Errorf("env %v: error %q, want it to contain %q", rt.extraEnv, r.stderr, tc.want)
				}
				if len(rt.extraEnv) == 0 && !strings.Contains(r.stderr, "(C init)") {
					t.Errorf("the C init did not handle this container: %s", r.stderr)
				}
				e.assertNoTraces(id, b)
			}
		})
	}
}
