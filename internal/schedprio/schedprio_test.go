package schedprio

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

func policy(t *testing.T, tid int) uint32 {
	t.Helper()
	a, err := unix.SchedGetAttr(tid, 0)
	if err != nil {
		t.Fatal(err)
	}
	return a.Policy
}

func TestIdleThenNormal(t *testing.T) {
	if !Usable() {
		t.Skip("this process cannot leave SCHED_IDLE (no CAP_SYS_NICE): berthd does not use it then")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := Idle(); err != nil {
		t.Fatal(err)
	}
	if p := policy(t, 0); p != unix.SCHED_IDLE {
		t.Fatalf("policy after Idle: %d, want SCHED_IDLE", p)
	}
	if err := NormalProcess(); err != nil {
		t.Fatal(err)
	}
	if p := policy(t, 0); p != unix.SCHED_NORMAL {
		t.Fatalf("policy after NormalProcess: %d, want SCHED_NORMAL", p)
	}
}

// TestStartIdle: a process started through StartIdle is idle, and the calling thread is not.
func TestStartIdle(t *testing.T) {
	if !Usable() {
		t.Skip("this process cannot leave SCHED_IDLE (no CAP_SYS_NICE)")
	}
	cmd := exec.Command("sleep", "10")
	var err error
	StartIdle(func() { err = cmd.Start() })
	if err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	if p := policy(t, cmd.Process.Pid); p != unix.SCHED_IDLE {
		t.Errorf("policy of the process started: %d, want SCHED_IDLE", p)
	}
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		tid, _ := strconv.Atoi(e.Name())
		if p := policy(t, tid); p != unix.SCHED_NORMAL {
			t.Errorf("thread %d of this process left at policy %d", tid, p)
		}
	}
}
