package seccomp

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/berthproject/berth/internal/runtime/seccomp/filter"
	mobyseccomp "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

func dockerDefault(t *testing.T) *specs.LinuxSeccomp {
	t.Helper()
	c := []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	s := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: c, Effective: c, Permitted: c}}}
	p, err := mobyseccomp.GetDefaultProfile(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func u(v uint) *uint { return &v }

func TestCompileNil(t *testing.T) {
	p, w, err := Compile(nil)
	if p != nil || w != nil || err != nil {
		t.Errorf("Compile(nil) = %v, %v, %v; want all nil", p, w, err)
	}
}

func TestCompileDockerDefault(t *testing.T) {
	prof := dockerDefault(t)
	p, warnings, err := Compile(prof)
	if err != nil {
		t.Fatalf("Compile(docker default): %v", err)
	}
	if len(p.BPF) == 0 || len(p.BPF)%8 != 0 {
		t.Fatalf("BPF program of %d bytes, want a non-empty multiple of 8", len(p.BPF))
	}
	if n := len(p.BPF) / 8; n > 4096 {
		t.Errorf("BPF program has %d instructions, above the kernel's BPF_MAXINSNS (4096)", n)
	}
	for _, w := range warnings {
		if !strings.Contains(w, "unknown to libseccomp") {
			t.Errorf("unexpected warning %q", w)
		}
	}
	t.Logf("%d instructions, %d warnings", len(p.BPF)/8, len(warnings))
	// Deterministic: the same profile compiles to the same program.
	p2, _, err := Compile(dockerDefault(t))
	if err != nil || string(p2.BPF) != string(p.BPF) {
		t.Errorf("second compile differs (err %v)", err)
	}
}

func TestCompileFlags(t *testing.T) {
	p, _, err := Compile(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
		Flags: []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow}})
	if err != nil {
		t.Fatal(err)
	}
	if want := uint(unix.SECCOMP_FILTER_FLAG_LOG | unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW); p.Flags != want {
		t.Errorf("flags = %#x, want %#x", p.Flags, want)
	}
}

func TestCompileRuleChangesProgram(t *testing.T) {
	base, _, err := Compile(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow})
	if err != nil {
		t.Fatal(err)
	}
	withRule, _, err := Compile(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"mkdirat"}, Action: specs.ActErrno, ErrnoRet: u(38)}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(withRule.BPF) <= len(base.BPF) {
		t.Errorf("a rule did not grow the program: %d vs %d bytes", len(withRule.BPF), len(base.BPF))
	}
	// A rule whose action equals the default is dropped (libseccomp would refuse it).
	same, _, err := Compile(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"mkdirat"}, Action: specs.ActAllow}}})
	if err != nil {
		t.Fatalf("rule equal to the default: %v", err)
	}
	if string(same.BPF) != string(base.BPF) {
		t.Errorf("a rule equal to the default changed the program")
	}
}

func TestCompileErrors(t *testing.T) {
	allow := specs.ActAllow
	cases := []struct {
		name string
		s    specs.LinuxSeccomp
		want string
	}{
		{"unknown-syscall", specs.LinuxSeccomp{DefaultAction: allow, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"not_a_syscall"}, Action: specs.ActErrno}}}, "not_a_syscall"},
		{"bad-default-action", specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_BOGUS"}, "SCMP_ACT_BOGUS"},
		{"bad-rule-action", specs.LinuxSeccomp{DefaultAction: allow, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"mkdir"}, Action: "SCMP_ACT_NOPE"}}}, "SCMP_ACT_NOPE"},
		{"notify", specs.LinuxSeccomp{DefaultAction: allow, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"mkdir"}, Action: specs.ActNotify}}}, "NOTIFY"},
		{"listener-path", specs.LinuxSeccomp{DefaultAction: allow, ListenerPath: "/run/x.sock"}, "listenerPath"},
		{"bad-operator", specs.LinuxSeccomp{DefaultAction: allow, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"personality"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 1, Op: "SCMP_CMP_SOMETIMES"}}}}}, "SCMP_CMP_SOMETIMES"},
		{"arg-index", specs.LinuxSeccomp{DefaultAction: allow, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"personality"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 6, Value: 1, Op: specs.OpEqualTo}}}}}, "index"},
		{"bad-arch", specs.LinuxSeccomp{DefaultAction: allow, Architectures: []specs.Arch{"SCMP_ARCH_Z80"}}, "SCMP_ARCH_Z80"},
		{"bad-flag", specs.LinuxSeccomp{DefaultAction: allow, Flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_BOGUS"}}, "SECCOMP_FILTER_FLAG_BOGUS"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, _, err := Compile(&tc.s)
			if err == nil {
				t.Fatalf("Compile succeeded (%d bytes), want an error mentioning %q", len(p.BPF), tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

// TestCompileUnknownToLibseccomp: a syscall some kernel has but this libseccomp does not know is
// skipped with a warning, not an error (profiles are written for newer kernels than the host).
func TestCompileUnknownToLibseccomp(t *testing.T) {
	var cands []string
	for n := range knownSyscalls {
		if _, err := libseccomp.GetSyscallFromName(n); err != nil {
			cands = append(cands, n)
		}
	}
	if len(cands) == 0 {
		t.Skipf("libseccomp %s knows every name in knownSyscalls: no syscall to test the warning path with", libVersion())
	}
	sort.Strings(cands)
	name := cands[0]
	for _, pref := range []string{"mseal", "listmount", "statmount", "riscv_hwprobe"} {
		if _, ok := knownSyscalls[pref]; ok {
			if _, err := libseccomp.GetSyscallFromName(pref); err != nil {
				name = pref
				break
			}
		}
	}
	p, warnings, err := Compile(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
		{Names: []string{name, "mkdirat"}, Action: specs.ActErrno}}})
	if err != nil {
		t.Fatalf("Compile with %q (unknown to libseccomp %s): %v", name, libVersion(), err)
	}
	if len(p.BPF) == 0 {
		t.Error("empty program")
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], name) {
		t.Errorf("warnings = %q, want one naming %q", warnings, name)
	}
}

func TestConditionsSplit(t *testing.T) {
	// Two checks on one argument mean "any of them": conditions reports split.
	_, split, err := conditions([]specs.LinuxSeccompArg{{Index: 0, Value: 1, Op: specs.OpEqualTo}, {Index: 0, Value: 2, Op: specs.OpEqualTo}})
	if err != nil || !split {
		t.Errorf("same index twice: split=%v err=%v, want split", split, err)
	}
	conds, split, err := conditions([]specs.LinuxSeccompArg{{Index: 0, Value: 1, Op: specs.OpEqualTo}, {Index: 1, Value: 2, Op: specs.OpMaskedEqual, ValueTwo: 2}})
	if err != nil || split || len(conds) != 2 {
		t.Errorf("different indexes: %d conds split=%v err=%v", len(conds), split, err)
	}
	// The split form compiles (one rule per condition).
	if _, _, err := Compile(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{
		Names: []string{"personality"}, Action: specs.ActErrno,
		Args: []specs.LinuxSeccompArg{{Index: 0, Value: 8, Op: specs.OpEqualTo}, {Index: 0, Value: 9, Op: specs.OpEqualTo}}}}}); err != nil {
		t.Errorf("split rule: %v", err)
	}
}

func TestLoadMalformed(t *testing.T) {
	for _, p := range []*filter.Program{{}, {BPF: make([]byte, 7)}} {
		if err := filter.Load(p); err == nil {
			t.Errorf("Load of a %d-byte program succeeded", len(p.BPF))
		}
	}
	if err := filter.Load(nil); err != nil {
		t.Errorf("filter.Load(nil) = %v", err)
	}
}

// TestLoadEnforces compiles a filter and loads it in a child process (no_new_privs, so no root
// needed): mkdir must then fail with the rule's errno while other calls still work.
func TestLoadEnforces(t *testing.T) {
	if os.Getenv("BERTH_SECCOMP_CHILD") != "" {
		t.Skip("helper")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLoadChild$", "-test.v")
	cmd.Env = append(os.Environ(), "BERTH_SECCOMP_CHILD="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "CHILD-OK") {
		t.Fatalf("child did not report:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "x")); err == nil {
		t.Errorf("mkdir under the filter created the directory")
	}
	if _, err := os.Stat(filepath.Join(dir, "f")); err != nil {
		t.Errorf("file creation (not filtered) failed: %v", err)
	}
}

func TestLoadChild(t *testing.T) {
	dir := os.Getenv("BERTH_SECCOMP_CHILD")
	if dir == "" {
		t.Skip("only run as TestLoadEnforces's child")
	}
	runtime.LockOSThread()
	p, _, err := Compile(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
		Flags:    []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_TSYNC"},
		Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: u(uint(unix.ENOSYS))}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := filter.Load(p); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "x"), 0o755); !errors.Is(err, unix.ENOSYS) {
		t.Fatalf("mkdir under the filter: %v, want ENOSYS", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), nil, 0o644); err != nil {
		t.Fatalf("create file: %v", err)
	}
	t.Log("CHILD-OK")
}

func TestCompileCached(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	profile := dockerDefault(t)
	want, _, err := Compile(profile)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // a miss that fills the cache, then a hit
		got, _, err := CompileCached(profile, dir)
		if err != nil || !bytes.Equal(got.BPF, want.BPF) || got.Flags != want.Flags {
			t.Fatalf("round %d: %v, program differs: %v", i, err, got == nil)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("cache holds %d entries", len(ents))
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("cache dir mode %v", fi.Mode().Perm())
	}
	// A damaged entry is not trusted: the program is compiled again.
	os.WriteFile(filepath.Join(dir, ents[0].Name()), []byte(`{"program":{"bpf":"AAEC"}}`), 0o600)
	got, _, err := CompileCached(profile, dir)
	if err != nil || !bytes.Equal(got.BPF, want.BPF) {
		t.Fatalf("damaged cache entry was used: %v", err)
	}
	// Another profile is another entry.
	other := *profile
	other.DefaultAction = specs.ActKillProcess
	if p, _, err := CompileCached(&other, dir); err != nil || bytes.Equal(p.BPF, want.BPF) {
		t.Fatalf("another profile: %v", err)
	}
}
