package runtime_test

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthproject/berth/internal/logs/jsonfile"
	"github.com/berthproject/berth/internal/monitor"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// shimRun starts berth-shim the way berthd does: in its own session, stdio on /dev/null, not
// waited for by anyone. It returns the shim's state dir and log path.
func (e *env) shimRun(bundle, id string, extra ...string) (state, logPath string) {
	e.t.Helper()
	dir := e.t.TempDir()
	state, logPath = filepath.Join(dir, "state"), filepath.Join(dir, id+"-json.log")
	args := append([]string{"--id", id, "--bundle", bundle, "--runtime", runtimeBin, "--runtime-root", e.root,
		"--state", state, "--log", logPath}, extra...)
	cmd := exec.Command(shimBin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	// Reap it if it ends while the test runs; a real daemon does not wait for its shims.
	go cmd.Wait()
	e.t.Cleanup(func() {
		monitor.Call(state, monitor.Request{Op: "kill", Signal: int(syscall.SIGKILL), All: true}, 5*time.Second)
		monitor.Call(state, monitor.Request{Op: "wait"}, 10*time.Second)
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(state, monitor.SocketFile)); err == nil {
			return state, logPath
		}
		if time.Now().After(deadline) {
			e.t.Fatal("berth-shim did not create its socket")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// shimWait waits for the container's exit as berthd does: by the shim's "wait", or, when the
// shim has already gone (a quick container can end before the caller connects), from its exit
// record.
func shimWait(t *testing.T, state string, timeout time.Duration) *monitor.Reply {
	t.Helper()
	rep, err := monitor.Call(state, monitor.Request{Op: "wait"}, timeout)
	if err == nil {
		return rep
	}
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if rec, rerr := monitor.ReadExit(state); rerr == nil {
			return &monitor.Reply{Exit: rec}
		}
	}
	t.Fatalf("wait: %v, and no exit record", err)
	return nil
}

func readLog(t *testing.T, path string) []jsonfile.Entry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []jsonfile.Entry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var en jsonfile.Entry
		if err := json.Unmarshal(sc.Bytes(), &en); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		out = append(out, en)
	}
	return out
}

func TestShimLogsAndExit(t *testing.T) {
	e := newEnv(t)
	b := e.bundle(func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3"}
	})
	id := e.id()
	state, logPath := e.shimRun(b, id)
	rep := shimWait(t, state, 20*time.Second)
	if rep.Running || rep.Exit == nil || rep.Exit.Code != 3 || rep.Exit.OOMKilled {
		t.Fatalf("wait: %+v %+v", rep, rep.Exit)
	}
	rec, err := monitor.ReadExit(state)
	if err != nil || rec.Code != 3 || rec.FinishedAt.IsZero() {
		t.Fatalf("exit record: %+v %v", rec, err)
	}
	got := map[string]string{}
	for _, en := range readLog(t, logPath) {
		got[en.Stream] += en.Log
	}
	if got["stdout"] != "to-stdout\n" || got["stderr"] != "to-stderr\n" {
		t.Errorf("log: %v", got)
	}
	// The shim deletes the runtime's container after it reported the exit, then goes: once it
	// is gone (what the daemon waits for before a new start), the runtime knows nothing of it.
	if err := monitor.AwaitGone(state, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if r := e.rt("state", id); r.code == 0 {
		t.Errorf("container still known to the runtime after exit: %s", r.stdout)
	}
}

func TestShimOutlivesItsStarterAndKills(t *testing.T) {
	e := newEnv(t)
	b := e.bundle(sleeper(nil))
	id := e.id()
	state, _ := e.shimRun(b, id)
	// The socket answers from the start; the container is running once the runtime started it.
	var rep *monitor.Reply
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		rep, err = monitor.Call(state, monitor.Request{Op: "state"}, 5*time.Second)
		if err == nil && rep.Running && rep.Pid > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("state: %+v %v", rep, err)
		}
	}
	// The shim is its own session: nothing of the starter's life matters to it.
	pidFile, _ := os.ReadFile(filepath.Join(state, monitor.PidFile)) // "pid starttime"
	shimPid := strings.Fields(string(pidFile) + " ")[0]
	sid, _ := unix.Getsid(atoi(t, shimPid))
	if sid != atoi(t, shimPid) {
		t.Errorf("shim is not a session leader (sid %d)", sid)
	}
	if _, err := monitor.Call(state, monitor.Request{Op: "kill", Signal: int(syscall.SIGKILL)}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	rep, err = monitor.Call(state, monitor.Request{Op: "wait"}, 20*time.Second)
	if err != nil || rep.Exit == nil || rep.Exit.Code != 137 {
		t.Fatalf("wait after SIGKILL: %+v %v", rep, err)
	}
}

func TestShimRecordsStartFailure(t *testing.T) {
	e := newEnv(t)
	b := e.bundle(func(s *specs.Spec) { s.Process.Args = []string{"/no/such/binary"} })
	state, _ := e.shimRun(b, e.id())
	deadline := time.Now().Add(10 * time.Second)
	for {
		if rec, err := monitor.ReadExit(state); err == nil {
			if rec.Code != 127 || !strings.Contains(rec.Error, "/no/such/binary") {
				t.Errorf("exit record: %+v", rec)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no exit record for a container that could not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestShimRotatesLogs(t *testing.T) {
	e := newEnv(t)
	b := e.bundle(func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", "i=0; while [ $i -lt 2000 ]; do echo line-$i-of-container-output; i=$((i+1)); done"}
	})
	state, logPath := e.shimRun(b, e.id(), "--log-max-size", "8192", "--log-max-files", "2")
	shimWait(t, state, 30*time.Second)
	files, _ := filepath.Glob(logPath + "*")
	if len(files) != 2 {
		t.Fatalf("log files: %v", files)
	}
	for _, f := range files {
		if fi, _ := os.Stat(f); fi.Size() > 8192 {
			t.Errorf("%s is %d bytes", f, fi.Size())
		}
	}
	entries := readLog(t, logPath)
	if len(entries) == 0 || entries[len(entries)-1].Log != "line-1999-of-container-output\n" {
		t.Errorf("newest log file does not end with the last line")
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	for _, c := range strings.TrimSpace(s) {
		if c < '0' || c > '9' {
			t.Fatalf("not a number: %q", s)
		}
		n = n*10 + int(c-'0')
	}
	return n
}
