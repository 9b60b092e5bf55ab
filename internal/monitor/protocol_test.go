package monitor

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/berthproject/berth/internal/procstat"
)

func TestAwaitGoneWaitsForThePreviousShimOfTheStateDir(t *testing.T) {
	dir := t.TempDir()
	// A stand-in shim: its command line names the state directory, as berth-shim's does.
	cmd := exec.Command("/bin/sh", "-c", "sleep 0.3", "--state", dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	if err := os.WriteFile(filepath.Join(dir, PidFile), []byte(strconv.Itoa(cmd.Process.Pid)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := AwaitGone(dir, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(2 * time.Second):
		t.Fatal("AwaitGone returned while the shim was still running")
	}
}

func TestAwaitGoneIgnoresAPidThatIsNotThisDirsShim(t *testing.T) {
	dir := t.TempDir()
	// This test process is alive but is no shim of dir: a reused pid must not block a start.
	if err := os.WriteFile(filepath.Join(dir, PidFile), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := AwaitGone(dir, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := AwaitGone(t.TempDir(), time.Second); err != nil { // no pid file at all
		t.Fatal(err)
	}
}

func TestAwaitGoneGivesUpAfterTheTimeout(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command("/bin/sh", "-c", "sleep 30", "--state", dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	os.WriteFile(filepath.Join(dir, PidFile), []byte(strconv.Itoa(cmd.Process.Pid)), 0o600)
	if err := AwaitGone(dir, 100*time.Millisecond); err == nil {
		t.Fatal("AwaitGone returned no error while the shim still ran")
	}
}

func TestAwaitGoneTellsAShimByItsStartTime(t *testing.T) {
	dir := t.TempDir()
	// A shim berthd started ahead of need names no state directory on its command line: its
	// pid file gives its start time.
	cmd := exec.Command("/bin/sh", "-c", "sleep 30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	started, _, err := procstat.Stat(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	start := strconv.FormatUint(started, 10)
	pid := strconv.Itoa(cmd.Process.Pid)
	os.WriteFile(filepath.Join(dir, PidFile), []byte(pid+" "+start), 0o600)
	if err := AwaitGone(dir, 100*time.Millisecond); err == nil {
		t.Fatal("AwaitGone returned while the shim named by pid and start time still ran")
	}
	// The same pid with another start time is a process that reused it: gone.
	os.WriteFile(filepath.Join(dir, PidFile), []byte(pid+" 1"+start), 0o600)
	if err := AwaitGone(dir, 5*time.Second); err != nil {
		t.Fatal(err)
	}
}
