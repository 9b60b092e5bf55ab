package runtime_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// initArgv0 creates a sleeper with the given runtime binary and returns its blocked init's argv[0].
func initArgv0(t *testing.T, e *env, bin string) string {
	t.Helper()
	b := e.bundle(sleeper(nil))
	id := e.id()
	pidFile := filepath.Join(t.TempDir(), "pid")
	// Output to a file: the created container inherits it and would hold a pipe open.
	logf, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, "--root", e.root, "create", "--bundle", b, "--pid-file", pidFile, id)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Run(); err != nil {
		out, _ := os.ReadFile(logf.Name())
		t.Fatalf("create with %s: %v\n%s", bin, err, out)
	}
	defer exec.Command(bin, "--root", e.root, "delete", "--force", id).Run()
	pid, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	cmdline, err := os.ReadFile("/proc/" + strings.TrimSpace(string(pid)) + "/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := strconv.Atoi(strings.TrimSpace(string(pid))); err != nil {
		t.Fatalf("pid file holds %q", pid)
	}
	return strings.SplitN(string(cmdline), "\x00", 2)[0]
}

// TestInitBinary checks both ways a container's init can run: the lean berth-runtime-init when it
// sits beside berth-runtime, and berth-runtime itself when it does not.
func TestInitBinary(t *testing.T) {
	e := newEnv(t)
	want := "berth-runtime"
	if _, err := os.Stat(filepath.Join(filepath.Dir(runtimeBin), "berth-runtime-init")); err == nil {
		want = "berth-runtime-init"
	}
	if got := initArgv0(t, e, runtimeBin); got != want {
		t.Errorf("init of %s runs as %q, want %q", runtimeBin, got, want)
	}

	// A copy of berth-runtime alone must still run containers, serving as its own init.
	alone := filepath.Join(t.TempDir(), "berth-runtime")
	if out, err := exec.Command("cp", runtimeBin, alone).CombinedOutput(); err != nil {
		t.Fatalf("copy runtime: %v\n%s", err, out)
	}
	if got := initArgv0(t, e, alone); got != "berth-runtime" {
		t.Errorf("lone berth-runtime's init runs as %q", got)
	}
	b := e.bundle(nil)
	out, err := exec.Command(alone, "--root", e.root, "run", "--bundle", b, e.id()).Output()
	if err != nil || !strings.Contains(string(out), `"pid": 1`) && !strings.Contains(string(out), `"pid":1`) {
		t.Fatalf("run with a lone berth-runtime: %v\n%s", err, out)
	}
}
