package runtime_test

// Seccomp: Docker's default profile and custom profiles are enforced inside the container.

import (
	"strings"
	"testing"

	mobyseccomp "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// dockerProfile returns Docker's default profile for s (the profile depends on the capabilities).
func dockerProfile(t *testing.T, s *specs.Spec) *specs.LinuxSeccomp {
	t.Helper()
	p, err := mobyseccomp.GetDefaultProfile(s)
	if err != nil {
		t.Fatalf("docker default profile: %v", err)
	}
	return p
}

func TestSeccompDockerDefault(t *testing.T) {
	e := newEnv(t)
	withProfile := func(extra func(*specs.Spec)) func(*specs.Spec) {
		return func(s *specs.Spec) {
			s.Linux.Seccomp = dockerProfile(t, s)
			if extra != nil {
				extra(s)
			}
		}
	}

	t.Run("loaded", func(t *testing.T) {
		r := e.runChecker(e.bundle(withProfile(nil)))
		if r.Seccomp.Mode != 2 || r.Seccomp.Filters < 1 {
			t.Errorf("seccomp = %+v, want mode 2 with a filter", r.Seccomp)
		}
	})

	// unshare(CLONE_NEWUSER) needs no capability, so only the profile (which allows unshare only
	// with CAP_SYS_ADMIN) can stop it. The control run without the profile proves that.
	const script = `unshare -U true; echo "unshare=$?"; echo hello > /dev/null && ls / > /dev/null && id -u && echo "normal=ok"`
	t.Run("control-without-profile", func(t *testing.T) {
		r := e.rt("run", "--bundle", e.shBundle(script, nil), e.id())
		if !strings.Contains(r.stdout, "unshare=0") {
			t.Skipf("unshare -U fails even without seccomp on this host (%q, %q): the blocked-syscall check below proves nothing more than the message", r.stdout, r.stderr)
		}
	})
	t.Run("blocks-unshare", func(t *testing.T) {
		r := e.rt("run", "--bundle", e.shBundle(script, withProfile(nil)), e.id())
		if r.code != 0 {
			t.Fatalf("run: exit %d: %s", r.code, r.stderr)
		}
		if strings.Contains(r.stdout, "unshare=0") {
			t.Errorf("unshare -U succeeded under Docker's default profile: %q", r.stdout)
		}
		if !strings.Contains(r.stderr, "Operation not permitted") {
			t.Errorf("unshare error is not EPERM: stderr %q", r.stderr)
		}
		if !strings.Contains(r.stdout, "normal=ok") || !strings.Contains(r.stdout, "0\n") {
			t.Errorf("ordinary commands failed under the profile: stdout %q stderr %q", r.stdout, r.stderr)
		}
	})
	// mount(2) with CAP_SYS_ADMIN in the container but a profile computed without it: only
	// seccomp stands in the way (busybox reports EPERM as "permission denied").
	t.Run("blocks-mount-despite-cap", func(t *testing.T) {
		addAdmin := func(s *specs.Spec) {
			c := append(append([]string{}, s.Process.Capabilities.Bounding...), "CAP_SYS_ADMIN")
			s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: c, Effective: c, Permitted: c}
		}
		const mnt = `mount -t tmpfs x /tmp; echo "mount=$?"`
		ctl := e.rt("run", "--bundle", e.shBundle(mnt, addAdmin), e.id())
		if !strings.Contains(ctl.stdout, "mount=0") {
			t.Fatalf("control: mount with CAP_SYS_ADMIN and no profile failed: %q %q", ctl.stdout, ctl.stderr)
		}
		r := e.rt("run", "--bundle", e.shBundle(mnt, func(s *specs.Spec) {
			s.Linux.Seccomp = dockerProfile(t, s) // computed before CAP_SYS_ADMIN is added
			addAdmin(s)
		}), e.id())
		if strings.Contains(r.stdout, "mount=0") {
			t.Errorf("mount succeeded under Docker's default profile (computed without CAP_SYS_ADMIN)")
		}
		if !strings.Contains(r.stderr, "permission denied") && !strings.Contains(r.stderr, "Operation not permitted") {
			t.Errorf("mount error is not EPERM: %q", r.stderr)
		}
	})
	t.Run("no-new-privs-false", func(t *testing.T) {
		// Without no_new_privs the filter must be loaded while the init still has CAP_SYS_ADMIN.
		r := e.runChecker(e.bundle(withProfile(func(s *specs.Spec) { s.Process.NoNewPrivileges = false })))
		if r.Seccomp.Mode != 2 {
			t.Errorf("seccomp mode %d with noNewPrivileges=false, want 2", r.Seccomp.Mode)
		}
		if r.NoNewPrivs {
			t.Errorf("no_new_privs set although the spec says false")
		}
	})
}

func TestSeccompCustomErrno(t *testing.T) {
	e := newEnv(t)
	enosys := uint(38)
	tmpfs := func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m"}})
	}
	const script = `mkdir /tmp/x; echo "mkdir=$?"; touch /tmp/f; echo "touch=$?"`
	r := e.rt("run", "--bundle", e.shBundle(script, func(s *specs.Spec) {
		tmpfs(s)
		s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: &enosys}}}
	}), e.id())
	if r.code != 0 {
		t.Fatalf("run: exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "mkdir=1") || !strings.Contains(r.stderr, "Function not implemented") {
		t.Errorf("mkdir under an ENOSYS rule: stdout %q stderr %q, want failure with \"Function not implemented\"", r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "touch=0") {
		t.Errorf("touch (not covered by the rule) failed: %q %q", r.stdout, r.stderr)
	}
	// Control: the same without the rule creates the directory.
	ctl := e.rt("run", "--bundle", e.shBundle(script, tmpfs), e.id())
	if !strings.Contains(ctl.stdout, "mkdir=0") {
		t.Errorf("control mkdir without seccomp failed: %q %q", ctl.stdout, ctl.stderr)
	}
}

// TestSeccompArgCondition: a rule on personality(2) only when arg0 == PER_LINUX32 (8). busybox
// linux32 calls personality(8), linux64 personality(0): the second must still work.
func TestSeccompArgCondition(t *testing.T) {
	e := newEnv(t)
	const script = `linux32 true; echo "l32=$?"; linux64 true; echo "l64=$?"`
	cond := func(op specs.LinuxSeccompOperator, v, v2 uint64) func(*specs.Spec) {
		return func(s *specs.Spec) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{
				Names: []string{"personality"}, Action: specs.ActErrno,
				Args: []specs.LinuxSeccompArg{{Index: 0, Value: v, ValueTwo: v2, Op: op}}}}}
		}
	}
	for _, tc := range []struct {
		name     string
		mutate   func(*specs.Spec)
		l32, l64 string
	}{
		{"none", nil, "0", "0"},
		{"eq-8", cond(specs.OpEqualTo, 8, 0), "1", "0"},
		{"ne-8", cond(specs.OpNotEqual, 8, 0), "0", "1"},
		{"masked-eq", cond(specs.OpMaskedEqual, 0xff, 8), "1", "0"},
		{"gt-0", cond(specs.OpGreaterThan, 0, 0), "1", "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.rt("run", "--bundle", e.shBundle(script, tc.mutate), e.id())
			if r.code != 0 {
				t.Fatalf("run: exit %d: %s", r.code, r.stderr)
			}
			if !strings.Contains(r.stdout, "l32="+tc.l32+"\n") || !strings.Contains(r.stdout, "l64="+tc.l64+"\n") {
				t.Errorf("got %q (stderr %q), want l32=%s l64=%s", r.stdout, r.stderr, tc.l32, tc.l64)
			}
			if (tc.l32 == "1" || tc.l64 == "1") && !strings.Contains(r.stderr, "Operation not permitted") {
				t.Errorf("blocked personality did not fail with EPERM: %q", r.stderr)
			}
		})
	}
}
