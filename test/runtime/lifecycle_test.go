package runtime_test

// Lifecycle tests: create, start, state, pause, resume, exec, ps, list, kill, delete, run and
// events, each checked against what the host sees (/proc, cgroupfs, the state root).

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ---- helpers for lifecycle_test.go, namespaces_test.go and hooks_test.go (prefixed lc) ----

// lcWaitStatus polls `state` until the container reaches want, failing the test after d.
func (e *env) lcWaitStatus(id string, want specs.ContainerState, d time.Duration) specs.State {
	e.t.Helper()
	var st specs.State
	for deadline := time.Now().Add(d); ; {
		st = e.ociState(id)
		if st.Status == want {
			return st
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("container %s: status %q after %v, want %q", id, st.Status, d, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lcRunDetached starts a container with run --detach and returns its init pid.
func (e *env) lcRunDetached(bundle, id string) int {
	e.t.Helper()
	e.mustRT("run", "--detach", "--bundle", bundle, id)
	st := e.ociState(id)
	if st.Status != specs.StateRunning || st.Pid <= 0 {
		e.t.Fatalf("after run --detach: status %q pid %d, want running with a pid", st.Status, st.Pid)
	}
	return st.Pid
}

// lcProcField returns the value of a "Name:" line of /proc/<pid>/status ("" if absent).
func lcProcField(pid int, name string) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && k == name {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// lcAlive reports whether pid exists and is not a zombie.
func lcAlive(pid int) bool {
	s := lcProcField(pid, "State")
	return s != "" && !strings.HasPrefix(s, "Z") && !strings.HasPrefix(s, "X")
}

// lcWaitGone polls until pid is gone (or a zombie), failing the test after d.
func lcWaitGone(t *testing.T, pid int, d time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(d); lcAlive(pid); {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still alive after %v (State: %s)", pid, d, lcProcField(pid, "State"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lcCgroupV2 reports whether /sys/fs/cgroup is the unified hierarchy.
func lcCgroupV2() bool {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return err == nil
}

// lcCgroupDirs returns the cgroupfs directories that process pid belongs to, from
// /proc/<pid>/cgroup, keyed by the controller list ("" for the unified hierarchy). Only
// directories that exist are returned.
func lcCgroupDirs(t *testing.T, pid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatalf("read cgroups of %d: %v", pid, err)
	}
	dirs := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) != 3 || f[2] == "/" {
			continue
		}
		var dir string
		switch {
		case f[1] == "" && lcCgroupV2():
			dir = filepath.Join("/sys/fs/cgroup", f[2])
		case f[1] == "":
			dir = filepath.Join("/sys/fs/cgroup/unified", f[2])
		default:
			dir = filepath.Join("/sys/fs/cgroup", strings.TrimPrefix(f[1], "name="), f[2])
		}
		if _, err := os.Stat(dir); err == nil {
			dirs[f[1]] = dir
		}
	}
	return dirs
}

// lcDefaultCgroupDir is the cgroup directory a container with no cgroupsPath gets: the pids
// hierarchy's on cgroup v1, the unified one on v2.
func lcDefaultCgroupDir(id string) string {
	if lcCgroupV2() {
		return filepath.Join("/sys/fs/cgroup/berth", id)
	}
	return filepath.Join("/sys/fs/cgroup/pids/berth", id)
}

// lcFrozen reads the freezer state of the cgroup of pid: true if frozen.
func lcFrozen(t *testing.T, pid int) bool {
	t.Helper()
	dirs := lcCgroupDirs(t, pid)
	if lcCgroupV2() {
		b, err := os.ReadFile(filepath.Join(dirs[""], "cgroup.freeze"))
		if err != nil {
			t.Fatalf("read cgroup.freeze: %v (cgroups %v)", err, dirs)
		}
		return strings.TrimSpace(string(b)) == "1"
	}
	for ctrls, dir := range dirs {
		for _, c := range strings.Split(ctrls, ",") {
			if c == "freezer" {
				b, err := os.ReadFile(filepath.Join(dir, "freezer.state"))
				if err != nil {
					t.Fatalf("read freezer.state: %v", err)
				}
				return strings.TrimSpace(string(b)) == "FROZEN"
			}
		}
	}
	t.Fatalf("process %d is in no freezer cgroup: %v", pid, dirs)
	return false
}

// lcProcsRootedIn lists live processes whose root directory lies in dir.
func lcProcsRootedIn(dir string) []string {
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		pid, _ := strconv.Atoi(filepath.Base(p))
		if r, err := os.Readlink(p + "/root"); err == nil && strings.HasPrefix(r, dir) && lcAlive(pid) {
			out = append(out, filepath.Base(p)+" (root "+r+")")
		}
	}
	return out
}

// lcShBundle makes a bundle whose process is `sh -c script`.
func (e *env) lcShBundle(script string, mutate func(*specs.Spec)) string {
	e.t.Helper()
	return e.bundle(func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", script}
		if mutate != nil {
			mutate(s)
		}
	})
}

// ---- tests ----

// TestLifecycle walks one container through every state and most commands.
func TestLifecycle(t *testing.T) {
	e := newEnv(t)
	b := e.bundle(sleeper(nil))
	id := e.id()
	pidFile := filepath.Join(t.TempDir(), "init.pid")

	// create
	e.mustRT("create", "--bundle", b, "--pid-file", pidFile, id)
	st := e.ociState(id)
	if st.Status != specs.StateCreated {
		t.Fatalf("after create: status %q, want created", st.Status)
	}
	if st.ID != id || st.Pid <= 0 {
		t.Fatalf("after create: id %q pid %d", st.ID, st.Pid)
	}
	if st.Bundle != b {
		t.Errorf("state bundle = %q, want %q", st.Bundle, b)
	}
	pid := st.Pid
	pf, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("--pid-file not written: %v", err)
	}
	if got := strings.TrimSpace(string(pf)); got != strconv.Itoa(pid) {
		t.Errorf("pid file holds %q, state says %d", got, pid)
	}
	if !lcAlive(pid) {
		t.Fatalf("created container's init %d is not alive", pid)
	}
	cgDirs := lcCgroupDirs(t, pid)
	if want := lcDefaultCgroupDir(id); !func() bool {
		for _, d := range cgDirs {
			if d == want {
				return true
			}
		}
		return false
	}() {
		t.Errorf("init %d is not in cgroup %s (it is in %v)", pid, want, cgDirs)
	}
	if _, err := os.Stat(filepath.Join(e.root, id)); err != nil {
		t.Fatalf("state dir: %v", err)
	}

	// start
	e.mustRT("start", id)
	st = e.ociState(id)
	if st.Status != specs.StateRunning || st.Pid != pid {
		t.Fatalf("after start: status %q pid %d, want running pid %d", st.Status, st.Pid, pid)
	}
	if cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); string(cmdline) != "sleep\x001000\x00" {
		t.Errorf("init cmdline = %q, want sleep 1000", cmdline)
	}
	if r := e.rt("start", id); r.code == 0 {
		t.Errorf("start of a running container succeeded")
	} else if !strings.Contains(r.stderr, "running") {
		t.Errorf("start of a running container: stderr %q does not say it is running", r.stderr)
	}
	if r := e.rt("resume", id); r.code == 0 {
		t.Errorf("resume of a running (not paused) container succeeded")
	}

	// pause / resume
	e.mustRT("pause", id)
	if st = e.ociState(id); st.Status != specs.ContainerState("paused") {
		t.Errorf("after pause: status %q, want paused", st.Status)
	}
	if !lcFrozen(t, pid) {
		t.Errorf("after pause: cgroup of %d is not frozen (State: %s)", pid, lcProcField(pid, "State"))
	}
	// runc refuses exec into a paused container; it must not hang either (lcRT times out).
	if r := e.rt("exec", id, "true"); r.code == 0 {
		t.Errorf("exec into a paused container succeeded")
	}
	e.mustRT("resume", id)
	if st = e.ociState(id); st.Status != specs.StateRunning {
		t.Errorf("after resume: status %q, want running", st.Status)
	}
	if lcFrozen(t, pid) {
		t.Errorf("after resume: cgroup still frozen")
	}

	// exec
	if r := e.rt("exec", id, "echo", "hi"); r.code != 0 || r.stdout != "hi\n" {
		t.Errorf("exec echo hi: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	if r := e.rt("exec", id, "sh", "-c", "exit 3"); r.code != 3 {
		t.Errorf("exec sh -c 'exit 3': exit %d, want 3 (stderr %q)", r.code, r.stderr)
	}
	if r := e.rt("exec", "--env", "FOO=bar", id, "sh", "-c", "echo $FOO"); r.code != 0 || r.stdout != "bar\n" {
		t.Errorf("exec --env FOO=bar: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	if r := e.rt("exec", "--cwd", "/tmp", id, "pwd"); r.code != 0 || r.stdout != "/tmp\n" {
		t.Errorf("exec --cwd /tmp pwd: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	if r := e.rt("exec", "--user", "1000:1000", id, "sh", "-c", "id -u; id -g"); r.code != 0 || r.stdout != "1000\n1000\n" {
		t.Errorf("exec --user 1000:1000: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	proc := specs.Process{
		Args: []string{"sh", "-c", "echo $PFOO; pwd; id -u; id -g"},
		Env:  []string{"PATH=/bin:/usr/bin", "PFOO=fromfile"},
		Cwd:  "/etc",
		User: specs.User{UID: 2000, GID: 2001},
	}
	pj, _ := json.Marshal(proc)
	procFile := filepath.Join(t.TempDir(), "process.json")
	if err := os.WriteFile(procFile, pj, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := e.rt("exec", "--process", procFile, id); r.code != 0 || r.stdout != "fromfile\n/etc\n2000\n2001\n" {
		t.Errorf("exec --process: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	// An exec'd process sees the container's pid namespace, where the init is pid 1.
	if r := e.rt("exec", id, "sh", "-c", "cat /proc/1/cmdline"); r.code != 0 || r.stdout != "sleep\x001000\x00" {
		t.Errorf("exec cat /proc/1/cmdline: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}

	// ps: a detached exec adds a second process.
	e.mustRT("exec", "--detach", id, "sleep", "999")
	var pids []int
	for deadline := time.Now().Add(5 * time.Second); ; {
		r := e.mustRT("ps", "--format", "json", id)
		pids = nil
		if err := json.Unmarshal([]byte(r.stdout), &pids); err != nil {
			t.Fatalf("ps --format json: %v\n%s", err, r.stdout)
		}
		if len(pids) >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	hasInit := false
	for _, p := range pids {
		hasInit = hasInit || p == pid
	}
	if !hasInit || len(pids) != 2 {
		t.Errorf("ps --format json = %v, want the init %d and the detached exec", pids, pid)
	}
	var execPid int
	for _, p := range pids {
		if p != pid {
			execPid = p
		}
	}

	// list
	r := e.mustRT("list")
	found := false
	for _, l := range strings.Split(r.stdout, "\n") {
		if f := strings.Fields(l); len(f) >= 3 && f[0] == id {
			found = true
			if f[1] != strconv.Itoa(pid) || f[2] != "running" {
				t.Errorf("list row %q, want pid %d running", l, pid)
			}
		}
	}
	if !found {
		t.Errorf("list does not show %s:\n%s", id, r.stdout)
	}
	var list []specs.State
	r = e.mustRT("list", "--format", "json")
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
		t.Fatalf("list --format json: %v\n%s", err, r.stdout)
	}
	if len(list) != 1 || list[0].ID != id || list[0].Pid != pid || list[0].Status != specs.StateRunning || list[0].Bundle != b {
		t.Errorf("list --format json = %+v, want only %s running pid %d", list, id, pid)
	}

	// kill KILL → stopped
	e.mustRT("kill", id, "KILL")
	st = e.lcWaitStatus(id, specs.StateStopped, 5*time.Second)
	if st.Pid != 0 {
		t.Errorf("stopped container reports pid %d, want 0 (as runc)", st.Pid)
	}
	lcWaitGone(t, pid, 5*time.Second)
	if execPid != 0 {
		// The exec'd process lived in the init's pid namespace: it dies with the init.
		lcWaitGone(t, execPid, 5*time.Second)
	}
	if r := e.rt("kill", id, "KILL"); r.code == 0 {
		t.Errorf("kill of a stopped container succeeded (runc: \"container not running\")")
	}
	if r := e.rt("start", id); r.code == 0 {
		t.Errorf("start of a stopped container succeeded")
	}

	// delete
	e.mustRT("delete", id)
	if r := e.rt("state", id); r.code == 0 {
		t.Errorf("state after delete succeeded: %s", r.stdout)
	} else if !strings.Contains(r.stderr, "does not exist") {
		t.Errorf("state after delete: stderr %q, want \"does not exist\"", r.stderr)
	}
	if _, err := os.Lstat(filepath.Join(e.root, id)); err == nil {
		t.Errorf("state dir %s left after delete", filepath.Join(e.root, id))
	}
	if len(cgDirs) == 0 {
		t.Errorf("the container had no cgroup directories")
	}
	for _, d := range cgDirs {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("cgroup %s left after delete", d)
		}
	}
	r = e.mustRT("list", "--format", "json")
	if strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("list --format json after delete = %s, want []", r.stdout)
	}
	if r := e.rt("delete", id); r.code == 0 {
		t.Errorf("second delete succeeded")
	}
}

// TestDeleteRunning checks that delete without --force refuses a running container and leaves it
// running, and that delete --force removes it.
func TestDeleteRunning(t *testing.T) {
	e := newEnv(t)
	id := e.id()
	pid := e.lcRunDetached(e.bundle(sleeper(nil)), id)
	cgDirs := lcCgroupDirs(t, pid)

	r := e.rt("delete", id)
	if r.code == 0 {
		t.Fatalf("delete of a running container without --force succeeded")
	}
	if !strings.Contains(r.stderr, "not stopped") {
		t.Errorf("delete of a running container: stderr %q, want \"not stopped\"", r.stderr)
	}
	if st := e.ociState(id); st.Status != specs.StateRunning || st.Pid != pid {
		t.Errorf("after a refused delete: status %q pid %d, want running pid %d", st.Status, st.Pid, pid)
	}
	if !lcAlive(pid) {
		t.Errorf("after a refused delete the init %d is dead", pid)
	}

	e.mustRT("delete", "--force", id)
	lcWaitGone(t, pid, 5*time.Second)
	if r := e.rt("state", id); r.code == 0 {
		t.Errorf("state after delete --force succeeded")
	}
	if _, err := os.Lstat(filepath.Join(e.root, id)); err == nil {
		t.Errorf("state dir left after delete --force")
	}
	for _, d := range cgDirs {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("cgroup %s left after delete --force", d)
		}
	}
}

// TestDeleteForceCreated removes a container that was created but never started.
func TestDeleteForceCreated(t *testing.T) {
	e := newEnv(t)
	id := e.id()
	b := e.bundle(sleeper(nil))
	e.mustRT("create", "--bundle", b, id)
	pid := e.ociState(id).Pid
	e.mustRT("delete", "--force", id)
	lcWaitGone(t, pid, 5*time.Second)
	if _, err := os.Lstat(filepath.Join(e.root, id)); err == nil {
		t.Errorf("state dir left after delete --force of a created container")
	}
	if _, err := os.Stat(lcDefaultCgroupDir(id)); err == nil {
		t.Errorf("cgroup %s left after delete --force of a created container", lcDefaultCgroupDir(id))
	}
	if left := lcProcsRootedIn(filepath.Join(b, "rootfs")); len(left) > 0 {
		t.Errorf("processes left in the bundle: %v", left)
	}
}

// TestRunExitCode checks that a foreground run returns the container's exit code and, as runc
// does, deletes the container afterwards.
func TestRunExitCode(t *testing.T) {
	e := newEnv(t)
	id := e.id()
	r := e.rt("run", "--bundle", e.lcShBundle("echo out; echo err >&2; exit 7", nil), id)
	if r.code != 7 {
		t.Errorf("run sh -c 'exit 7': exit %d, want 7 (stderr %q)", r.code, r.stderr)
	}
	if r.stdout != "out\n" || !strings.Contains(r.stderr, "err\n") {
		t.Errorf("run: stdout %q stderr %q, want the container's output", r.stdout, r.stderr)
	}
	if r := e.rt("state", id); r.code == 0 {
		t.Errorf("container still exists after a foreground run: %s", r.stdout)
	}
	if _, err := os.Stat(lcDefaultCgroupDir(id)); err == nil {
		t.Errorf("cgroup %s left after a foreground run", lcDefaultCgroupDir(id))
	}
	if r := e.rt("run", "--bundle", e.lcShBundle("exit 0", nil), e.id()); r.code != 0 {
		t.Errorf("run sh -c 'exit 0': exit %d (stderr %q)", r.code, r.stderr)
	}
}

// TestRunDetach checks that run --detach returns while the container keeps running.
func TestRunDetach(t *testing.T) {
	e := newEnv(t)
	id := e.id()
	start := time.Now()
	pid := e.lcRunDetached(e.bundle(sleeper(nil)), id)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("run --detach took %v", d)
	}
	if !lcAlive(pid) {
		t.Fatalf("init %d of a detached container is not alive", pid)
	}
	if cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); string(cmdline) != "sleep\x001000\x00" {
		t.Errorf("init cmdline = %q, want sleep 1000", cmdline)
	}
	// Still running a moment later: run --detach did not take the container with it.
	time.Sleep(100 * time.Millisecond)
	if st := e.ociState(id); st.Status != specs.StateRunning || !lcAlive(pid) {
		t.Errorf("detached container: status %q alive %v", st.Status, lcAlive(pid))
	}
	e.mustRT("delete", "--force", id)
	lcWaitGone(t, pid, 5*time.Second)
}

// TestKillDefaultSignal checks that kill without a signal sends SIGTERM: the container's shell
// traps TERM and exits 42, which a foreground run returns. (pid 1 ignores signals it has no
// handler for, so a KILL-less kill of an untrapping init would do nothing at all.)
func TestKillDefaultSignal(t *testing.T) {
	e := newEnv(t)
	id := e.id()
	b := e.lcShBundle(`trap "exit 42" TERM; while true; do sleep 0.1; done`, nil)
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(runtimeBin, "--root", e.root, "run", "--bundle", b, id)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	exited := false
	defer func() {
		if !exited {
			cmd.Process.Kill() // our own berth-runtime process, by pid; cleanup deletes the container
			<-done
		}
	}()

	// Wait until the shell has installed its trap: SIGTERM (15) is bit 14 of SigCgt.
	var pid int
	for deadline := time.Now().Add(10 * time.Second); ; {
		if r := e.rt("state", id); r.code == 0 {
			var st specs.State
			if json.Unmarshal([]byte(r.stdout), &st) == nil && st.Status == specs.StateRunning {
				pid = st.Pid
				if m, err := strconv.ParseUint(lcProcField(pid, "SigCgt"), 16, 64); err == nil && m&(1<<14) != 0 {
					break
				}
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(out.Name())
			t.Fatalf("container never got to running with a TERM trap (pid %d); output: %s", pid, b)
		}
		time.Sleep(20 * time.Millisecond)
	}

	e.mustRT("kill", id)
	select {
	case err := <-done:
		exited = true
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != 42 {
			b, _ := os.ReadFile(out.Name())
			t.Errorf("run exited %d after a default kill, want 42 (the TERM trap); output: %s", code, b)
		}
	case <-time.After(10 * time.Second):
		sig := map[string]string{}
		for _, f := range []string{"State", "SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt"} {
			sig[f] = lcProcField(pid, f)
		}
		t.Fatalf("the container did not exit within 10s of a default kill (not SIGTERM?); init %d: %v", pid, sig)
	}
}

// TestEventsStats checks that events --stats prints one stats event with runc's layout
// (runc's types.Event / types.Stats: data.memory.usage.usage, data.pids.current, ...), which
// consumers such as containerd's go-runc decode.
func TestEventsStats(t *testing.T) {
	e := newEnv(t)
	id := e.id()
	e.lcRunDetached(e.bundle(sleeper(nil)), id)
	r := e.mustRT("events", "--stats", id)
	var ev struct {
		Type string                     `json:"type"`
		ID   string                     `json:"id"`
		Data map[string]json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &ev); err != nil {
		t.Fatalf("events --stats: %v\n%s", err, r.stdout)
	}
	if ev.Type != "stats" || ev.ID != id {
		t.Errorf("events --stats: type %q id %q, want stats %s", ev.Type, ev.ID, id)
	}
	keys := make([]string, 0, len(ev.Data))
	for k := range ev.Data {
		keys = append(keys, k)
	}
	var mem struct {
		Usage struct {
			Usage uint64 `json:"usage"`
		} `json:"usage"`
	}
	if raw, ok := ev.Data["memory"]; !ok {
		t.Errorf("events --stats: data has no \"memory\" (runc's key); it has %v", keys)
	} else if err := json.Unmarshal(raw, &mem); err != nil || mem.Usage.Usage == 0 {
		t.Errorf("events --stats: data.memory.usage.usage = %d (%v): %s", mem.Usage.Usage, err, raw)
	}
	var pids struct {
		Current uint64 `json:"current"`
	}
	if raw, ok := ev.Data["pids"]; !ok {
		t.Errorf("events --stats: data has no \"pids\" (runc's key); it has %v", keys)
	} else if err := json.Unmarshal(raw, &pids); err != nil || pids.Current != 1 {
		t.Errorf("events --stats: data.pids.current = %d (%v), want 1: %s", pids.Current, err, raw)
	}
	e.mustRT("delete", "--force", id)
	if r := e.rt("events", "--stats", id); r.code == 0 {
		t.Errorf("events --stats of a deleted container succeeded")
	}
}

// TestRunWaitsForProceed checks berth's --proceed-fd: the runtime starts no init before the
// second go-ahead byte, the init starts no process of the container's before the third, the
// container runs after it, and on EOF instead of either the runtime gives up, leaving no
// process, state or cgroup behind.
func TestRunWaitsForProceed(t *testing.T) {
	e := newEnv(t)
	cgroupDirs := func(id string) []string {
		return []string{"/sys/fs/cgroup/pids/berth-test-proceed/" + id, "/sys/fs/cgroup/berth-test-proceed/" + id}
	}
	// procs lists the processes in the container's cgroup, by command name.
	procs := func(id string) (comms []string) {
		for _, dir := range cgroupDirs(id) {
			b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
			if err != nil {
				continue
			}
			for _, pid := range strings.Fields(string(b)) {
				comm, _ := os.ReadFile("/proc/" + pid + "/comm")
				comms = append(comms, strings.TrimSpace(string(comm)))
			}
			return comms
		}
		return nil
	}
	// runWithProceed runs a sleeper giving it goAheads go-aheads, one at a time, then EOF.
	runWithProceed := func(id string, goAheads int) (result, error) {
		bundle := e.bundle(sleeper(func(s *specs.Spec) { s.Linux.CgroupsPath = "/berth-test-proceed/" + id }))
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		// A file, not a pipe: the detached container inherits the runtime's stdio.
		out, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		cmd := exec.Command(runtimeBin, "--root", e.root, "run", "--detach", "--proceed-fd", "3", "--bundle", bundle, id)
		cmd.ExtraFiles = []*os.File{r}
		cmd.Stderr = out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Until the second go-ahead, no init runs.
		time.Sleep(300 * time.Millisecond)
		if p := procs(id); len(p) > 0 {
			t.Errorf("processes %v in the container's cgroup before any go-ahead", p)
		}
		if goAheads >= 1 {
			w.Write([]byte{1}) // the bundle is written
			time.Sleep(100 * time.Millisecond)
			if p := procs(id); len(p) > 0 {
				t.Errorf("processes %v in the container's cgroup before the second go-ahead", p)
			}
		}
		if goAheads >= 2 {
			w.Write([]byte{1}) // the namespaces are made: the init builds the container
			deadline := time.Now().Add(5 * time.Second)
			for len(procs(id)) == 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(100 * time.Millisecond)
			if p := procs(id); len(p) != 1 || p[0] == "sleep" {
				t.Errorf("processes in the container's cgroup before the third go-ahead: %v, want the init alone", p)
			}
		}
		if goAheads >= 3 {
			w.Write([]byte{1}) // the network is up
		}
		w.Close()
		err = cmd.Wait()
		stderr, _ := os.ReadFile(out.Name())
		return result{stderr: string(stderr)}, err
	}

	id := e.id()
	if res, err := runWithProceed(id, 3); err != nil {
		t.Fatalf("run after the go-aheads: %v\n%s", err, res.stderr)
	}
	if st := e.ociState(id); st.Status != specs.StateRunning {
		t.Errorf("after the go-aheads: %q, want running", st.Status)
	}
	if p := procs(id); len(p) != 1 || p[0] != "sleep" {
		t.Errorf("processes in the container's cgroup after the go-aheads: %v, want sleep", p)
	}
	e.mustRT("delete", "--force", id)

	for _, goAheads := range []int{1, 2} {
		id = e.id()
		res, err := runWithProceed(id, goAheads)
		if err == nil {
			t.Fatalf("run cancelled after %d go-aheads succeeded", goAheads)
		}
		if !strings.Contains(res.stderr, "cancelled") {
			t.Errorf("run cancelled after %d go-aheads: %q, want it to say the start was cancelled", goAheads, res.stderr)
		}
		if _, err := os.Stat(filepath.Join(e.root, id)); !os.IsNotExist(err) {
			t.Errorf("the cancelled container's state directory remains (%v)", err)
		}
		if out := e.rt("state", id); out.code == 0 {
			t.Errorf("state of the cancelled container: %s", out.stdout)
		}
		for _, dir := range cgroupDirs(id) {
			if _, err := os.Stat(dir); err == nil {
				t.Errorf("the cancelled container's cgroup %s remains (processes %v)", dir, procs(id))
			}
		}
	}
	for _, parent := range []string{"pids", "memory", "cpu", "cpuset", "devices", "freezer", "blkio", "cpuacct", "net_cls", "perf_event", "hugetlb", "systemd", "rdma", "unified", ""} {
		os.Remove(filepath.Join("/sys/fs/cgroup", parent, "berth-test-proceed"))
	}
}

// TestRunTakesItsCommandLineLater: berth-runtime --args-fd (a runtime started ahead of need)
// prepares, then runs the command line it receives on the socket with the files it receives
// with it as its stdio and fd 3, and exits doing nothing when the socket ends empty.
func TestRunTakesItsCommandLineLater(t *testing.T) {
	e := newEnv(t)
	start := func() (*exec.Cmd, int) {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		child := os.NewFile(uintptr(fds[1]), "args")
		defer child.Close()
		cmd := exec.Command(runtimeBin, "--args-fd", "3")
		cmd.ExtraFiles = []*os.File{child}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, fds[0]
	}

	cmd, sock := start()
	unix.Close(sock)
	if err := cmd.Wait(); err != nil {
		t.Errorf("a runtime given no command line: %v, want a plain exit", err)
	}

	bundle := e.bundle(func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 7"}
	})
	id := e.id()
	cmd, sock = start()
	stdoutR, stdoutW, _ := os.Pipe()
	stderrR, stderrW, _ := os.Pipe()
	proceedR, proceedW, _ := os.Pipe()
	devnull, _ := os.Open(os.DevNull)
	args := []string{"--root", e.root, "run", "--proceed-fd", "3", "--bundle", bundle, id}
	rights := unix.UnixRights(int(devnull.Fd()), int(stdoutW.Fd()), int(stderrW.Fd()), int(proceedR.Fd()))
	if err := unix.Sendmsg(sock, []byte(strings.Join(args, "\x00")), rights, nil, 0); err != nil {
		t.Fatal(err)
	}
	unix.Close(sock)
	for _, f := range []*os.File{devnull, stdoutW, stderrW, proceedR} {
		f.Close()
	}
	proceedW.Write([]byte{1, 1, 1}) // the bundle, the namespaces, the network: through fd 3
	proceedW.Close()
	stdout, _ := io.ReadAll(stdoutR)
	stderr, _ := io.ReadAll(stderrR)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Errorf("run through --args-fd: %v, want the container's exit status 7 (stderr %q)", err, stderr)
	}
	if string(stdout) != "to-stdout\n" {
		t.Errorf("the container's stdout: %q, want %q", stdout, "to-stdout\n")
	}
	if !strings.Contains(string(stderr), "to-stderr\n") {
		t.Errorf("the container's stderr: %q, want it to hold %q", stderr, "to-stderr\n")
	}
}
