// Package schedprio moves threads between the normal scheduling policy and SCHED_IDLE. berthd
// starts what the next start will take (a shim waiting for its container, and in it a runtime)
// from a thread at idle priority, which they inherit: their start-up then never takes the
// processor from a start or an exit under way. Each sets itself back to normal once prepared,
// before it waits, so that nothing on a start's path runs idle. Only processes run idle, never
// berthd's own Go code: an idle thread starved while it held a Go P would hold up the daemon's
// garbage collector.
package schedprio

import (
	"os"
	"runtime"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

func set(tid int, policy uint32) error {
	return unix.SchedSetAttr(tid, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: policy}, 0)
}

// Idle puts the calling thread at SCHED_IDLE: it runs when nothing else wants the processor.
func Idle() error { return set(0, unix.SCHED_IDLE) }

// Normal puts the calling thread back to the normal policy, nice 0.
func Normal() error { return set(0, unix.SCHED_NORMAL) }

// Usable reports whether this process can go idle and come back: leaving SCHED_IDLE needs
// CAP_SYS_NICE or a RLIMIT_NICE that allows it, which a daemon in an unprivileged container may
// lack (going idle is always allowed). Tried once, on a thread of its own.
var Usable = sync.OnceValue(func() bool {
	ok := make(chan bool)
	go func() {
		runtime.LockOSThread() // not unlocked: a thread left idle is retired with its goroutine
		if Idle() != nil {
			ok <- false
			return
		}
		back := Normal() == nil
		if back {
			runtime.UnlockOSThread()
		}
		ok <- back
	}()
	return <-ok
})

// StartIdle runs start (which starts a process) on a thread at idle priority, so that the
// process starts idle; start's own code is a fork and an exec. Without Usable, start runs as is.
func StartIdle(start func()) {
	if !Usable() {
		start()
		return
	}
	runtime.LockOSThread()
	if Idle() != nil {
		runtime.UnlockOSThread()
		start()
		return
	}
	start()
	if Normal() != nil {
		return // still idle: never unlocked, so Go retires the thread
	}
	runtime.UnlockOSThread()
}

// NormalProcess puts every thread of the calling process back to the normal policy. A process
// started idle calls it once prepared, before it waits for its work. Twice over the threads: one
// made by a thread not yet set back, during the first pass, would be idle.
func NormalProcess() error {
	var first error
	for range 2 {
		ents, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		for _, e := range ents {
			tid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if err := set(tid, unix.SCHED_NORMAL); err != nil && err != unix.ESRCH && first == nil {
				first = err
			}
		}
	}
	return first
}
