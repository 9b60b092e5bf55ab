package schedprio

import (
	"runtime"
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
	Idle()
	if err := Normal(); err != nil {
		t.Fatal(err)
	}
	if p := policy(t, 0); p != unix.SCHED_NORMAL {
		t.Fatalf("policy after Normal: %d, want SCHED_NORMAL", p)
	}
}
