package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/bits"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/berthproject/berth/test/checker/report"
)

// runAsChecker makes the test binary behave as the checker, so the tests can
// exercise flag handling, fd listing and exit codes without a go build.
const runAsChecker = "BERTH_CHECKER_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runAsChecker) == "1" {
		os.Args = append([]string{"checker"}, os.Args[1:]...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// checker returns a command running the test binary as the checker.
func checker(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), runAsChecker+"=1", "CHECKER_TEST_VAR=hello world")
	return cmd
}

func TestCollectSelf(t *testing.T) {
	r := collect(options{})
	for _, e := range r.Errors {
		t.Errorf("probe error: %s", e)
	}
	if r.Pid != os.Getpid() || r.Ppid != os.Getppid() {
		t.Errorf("pid/ppid = %d/%d", r.Pid, r.Ppid)
	}
	if r.UID.Real != uint32(os.Getuid()) || r.UID.Effective != uint32(os.Geteuid()) ||
		r.GID.Real != uint32(os.Getgid()) || r.GID.Effective != uint32(os.Getegid()) {
		t.Errorf("uid %+v gid %+v", r.UID, r.GID)
	}
	groups, _ := os.Getgroups()
	if len(groups) != len(r.Groups) {
		t.Errorf("groups = %v, want %v", r.Groups, groups)
	}
	if !regexpUmask(r.Umask) {
		t.Errorf("umask = %q", r.Umask)
	}
	if wd, _ := syscall.Getwd(); r.Cwd != wd {
		t.Errorf("cwd = %q, want %q", r.Cwd, wd)
	}
	if h, _ := os.Hostname(); r.Hostname != h {
		t.Errorf("hostname = %q, want %q", r.Hostname, h)
	}
	if exe, _ := os.Executable(); r.Exe != exe {
		t.Errorf("exe = %q, want %q", r.Exe, exe)
	}
	for _, ns := range []string{"mnt", "uts", "ipc", "pid", "net", "user"} {
		want, _ := os.Readlink("/proc/self/ns/" + ns)
		if got := r.Namespaces[ns]; got != want || !strings.HasPrefix(got, ns+":[") {
			t.Errorf("namespace %s = %q, want %q", ns, got, want)
		}
	}

	caps := r.Capabilities
	for name, set := range map[string]report.CapSet{
		"inh": caps.Inheritable, "prm": caps.Permitted, "eff": caps.Effective,
		"bnd": caps.Bounding, "amb": caps.Ambient,
	} {
		mask, err := strconv.ParseUint(set.Hex, 16, 64)
		if err != nil || bits.OnesCount64(mask) != len(set.Names) {
			t.Errorf("cap set %s: hex %q names %q", name, set.Hex, set.Names)
		}
	}
	if r.Seccomp.Mode < 0 || r.Seccomp.Mode > 2 {
		t.Errorf("seccomp = %+v", r.Seccomp)
	}

	if len(r.Rlimits) != 16 {
		t.Errorf("got %d rlimits, want 16", len(r.Rlimits))
	}
	for name, rl := range r.Rlimits {
		if rl.Soft > rl.Hard {
			t.Errorf("%s soft %d > hard %d", name, rl.Soft, rl.Hard)
		}
	}
	if r.OOMScoreAdj < -1000 || r.OOMScoreAdj > 1000 {
		t.Errorf("oom_score_adj = %d", r.OOMScoreAdj)
	}

	// We just read /proc/self/*, so a proc mount must be visible.
	if m := r.Mount("/proc"); m == nil || m.FSType != "proc" {
		t.Errorf("no proc mount at /proc: %+v", m)
	}
	for _, m := range r.Mounts {
		if m.MountPoint == "" || m.FSType == "" || len(m.Options) == 0 || m.Propagation == "" {
			t.Errorf("incomplete mount %+v", m)
		}
	}
	if !strings.Contains(r.Cgroup.Proc, "::") && !strings.Contains(r.Cgroup.Proc, ":/") {
		t.Errorf("cgroup proc = %q", r.Cgroup.Proc)
	}
	if r.Cgroup.Version != 0 && len(r.Cgroup.Limits) == 0 {
		t.Errorf("cgroup v%d mounted but no limits read", r.Cgroup.Version)
	}
}

func regexpUmask(s string) bool {
	_, err := strconv.ParseUint(s, 8, 32)
	return len(s) == 4 && err == nil
}

// TestRunChecker runs the checker as a separate process, the way the
// integration tests do, and checks the flag-driven probes.
func TestRunChecker(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "existing")
	if err := os.WriteFile(existing, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("existing", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	leak, err := os.Open(existing)
	if err != nil {
		t.Fatal(err)
	}
	defer leak.Close()

	// Give the checker a soft NOFILE limit below hard-1, which its Go
	// runtime will raise; the report must still show the limit it got.
	var orig syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
		t.Fatal(err)
	}
	wantNofile := orig.Max
	if orig.Max > 1000 {
		wantNofile = 777
		lowered := syscall.Rlimit{Cur: wantNofile, Max: orig.Max}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lowered); err != nil {
			t.Fatal(err)
		}
		defer syscall.Setrlimit(syscall.RLIMIT_NOFILE, &orig)
	}

	out := filepath.Join(dir, "report.json")
	cmd := checker(t,
		"-o", out,
		"-stat", "/dev/null", "-stat", filepath.Join(dir, "link"), "-stat", filepath.Join(dir, "missing"),
		"-write", filepath.Join(dir, "new"), "-write", existing, "-write", filepath.Join(dir, "nodir", "x"),
		"-sysctl", "kernel.ostype", "-sysctl", "kernel/ostype", "-sysctl", "kernel.no_such_sysctl",
	)
	cmd.ExtraFiles = []*os.File{leak} // becomes fd 3 in the checker
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("checker failed: %v\n%s", err, stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("with -o, stdout should be empty, got %q", stdout.String())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var r report.Report
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("bad JSON: %v\n%s", err, data)
	}
	for _, e := range r.Errors {
		t.Errorf("probe error: %s", e)
	}
	if r.Pid != cmd.Process.Pid || r.Ppid != os.Getpid() {
		t.Errorf("pid/ppid = %d/%d, want %d/%d", r.Pid, r.Ppid, cmd.Process.Pid, os.Getpid())
	}
	if v, ok := r.Getenv("CHECKER_TEST_VAR"); !ok || v != "hello world" {
		t.Errorf("env CHECKER_TEST_VAR = %q, %v", v, ok)
	}

	if got := r.Rlimits["RLIMIT_NOFILE"]; got.Soft != wantNofile || got.Hard != orig.Max {
		t.Errorf("RLIMIT_NOFILE = %+v, want soft %d hard %d", got, wantNofile, orig.Max)
	}

	// fd 3 is the file we handed over; the checker's own runtime fds
	// (netpoller, cgroup files) must not show up.
	var sawLeak bool
	for _, fd := range r.FDs {
		if fd.FD == 3 && fd.Target == existing {
			sawLeak = true
		}
		if strings.HasPrefix(fd.Target, "/sys/fs/cgroup") || strings.HasPrefix(fd.Target, "anon_inode:") {
			t.Errorf("checker's own fd reported: %+v", fd)
		}
	}
	if !sawLeak {
		t.Errorf("fd 3 -> %s not reported: %+v", existing, r.FDs)
	}

	wantStats := map[string]report.Stat{
		"/dev/null":                   {Exists: true, Type: "char", Major: 1, Minor: 3},
		filepath.Join(dir, "link"):    {Exists: true, Type: "symlink", Target: "existing"},
		filepath.Join(dir, "missing"): {},
	}
	for p, want := range wantStats {
		got, ok := r.Stats[p]
		got.Mode, got.UID, got.GID = "", 0, 0
		if !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("stat %s = %+v, want %+v", p, got, want)
		}
	}
	if m := r.Stats["/dev/null"].Mode; m != "0666" {
		t.Errorf("/dev/null mode = %q", m)
	}

	if w := r.Writes[filepath.Join(dir, "new")]; !w.OK || !w.Created {
		t.Errorf("write new = %+v", w)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "new")); string(b) != writeMarker {
		t.Errorf("created file holds %q", b)
	}
	if w := r.Writes[existing]; !w.OK || w.Created {
		t.Errorf("write existing = %+v", w)
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep" {
		t.Errorf("existing file was modified: %q", b)
	}
	if w := r.Writes[filepath.Join(dir, "nodir", "x")]; w.OK || w.Errno != "ENOENT" || w.Error == "" {
		t.Errorf("write into missing dir = %+v", w)
	}

	for _, name := range []string{"kernel.ostype", "kernel/ostype"} {
		if s := r.Sysctls[name]; s.Value != "Linux" || s.Error != "" {
			t.Errorf("sysctl %s = %+v", name, s)
		}
	}
	if s := r.Sysctls["kernel.no_such_sysctl"]; s.Errno != "ENOENT" {
		t.Errorf("missing sysctl = %+v", s)
	}
}

func TestStdout(t *testing.T) {
	out, err := checker(t).Output()
	if err != nil {
		t.Fatal(err)
	}
	var r report.Report
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("bad JSON on stdout: %v", err)
	}
	if r.Stats != nil || r.Writes != nil || r.Sysctls != nil {
		t.Errorf("unrequested probes present: %+v %+v %+v", r.Stats, r.Writes, r.Sysctls)
	}
}

func TestBadUsage(t *testing.T) {
	for _, args := range [][]string{{"-bogus"}, {"extra-arg"}, {"-stat"}} {
		err := checker(t, args...).Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("checker %q: err %v, want exit status 2", args, err)
		}
	}
}

func TestParseMountinfo(t *testing.T) {
	const data = `22 27 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
36 35 98:0 /mnt1 /mnt\0402 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
37 35 98:0 /a\134b /x ro shared:3 master:1 - ext4 /dev/sda1 rw
38 35 0:40 / /y rw unbindable - tmpfs tmpfs rw,mode=755
garbage line
`
	ms, err := parseMountinfo(data)
	if err == nil || !strings.Contains(err.Error(), "garbage") {
		t.Errorf("want error naming the malformed line, got %v", err)
	}
	if len(ms) != 4 {
		t.Fatalf("got %d mounts, want 4", len(ms))
	}
	want := report.Mount{
		ID: 36, ParentID: 35, MajorMinor: "98:0", Root: "/mnt1", MountPoint: "/mnt 2",
		Options: []string{"rw", "noatime"}, Optional: []string{"master:1"}, Propagation: "slave",
		FSType: "ext3", Source: "/dev/root", SuperOptions: []string{"rw", "errors=continue"},
	}
	if !reflect.DeepEqual(ms[1], want) {
		t.Errorf("mount 1 =\n %+v\nwant\n %+v", ms[1], want)
	}
	for i, p := range []string{"shared", "slave", "shared,slave", "unbindable"} {
		if ms[i].Propagation != p {
			t.Errorf("mount %d propagation = %q, want %q", i, ms[i].Propagation, p)
		}
	}
	if ms[2].Root != `/a\b` || !ms[2].HasOption("ro") {
		t.Errorf("mount 2 = %+v", ms[2])
	}
	if len(ms[3].Optional) != 1 || ms[0].Optional == nil {
		t.Errorf("optional fields: %q %q", ms[3].Optional, ms[0].Optional)
	}
}

func TestParseStatus(t *testing.T) {
	st := parseStatus("Name:\tcat\nUid:\t1000\t1001\t1002\t1003\nGroups:\t\nCapEff:\t00000000a80425fb\n")
	ids, err := parseIDs(st["Uid"])
	if err != nil || ids != (report.IDs{Real: 1000, Effective: 1001, Saved: 1002, FS: 1003}) {
		t.Errorf("parseIDs = %+v, %v", ids, err)
	}
	if st["Groups"] != "" || st["CapEff"] != "00000000a80425fb" {
		t.Errorf("parseStatus = %q", st)
	}
	if _, err := parseIDs("1 2"); err == nil {
		t.Error("parseIDs accepted 2 fields")
	}
}
