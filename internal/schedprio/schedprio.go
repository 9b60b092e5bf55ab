// Package schedprio moves threads between the normal scheduling policy and SCHED_IDLE. berthd
// makes what the next start will take (a waiting shim, a network namespace) at idle priority, so
// that this work ahead of need never takes the processor from a start or an exit under way.
// Processes started from an idle thread are idle too, until they set themselves back.
package schedprio

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

func set(tid int, policy uint32) error {
	return unix.SchedSetAttr(tid, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: policy}, 0)
}

// Idle puts the calling thread at SCHED_IDLE: it runs when nothing else wants the processor.
func Idle() error { return set(0, unix.SCHED_IDLE) }

// Normal puts the calling thread back to the normal policy, nice 0.
func Normal() error { return set(0, unix.SCHED_NORMAL) }

// NormalProcess puts every thread of the calling process back to the normal policy: a process
// started from an idle thread calls it once it has work to do.
func NormalProcess() error {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	var first error
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if err := set(tid, unix.SCHED_NORMAL); err != nil && err != unix.ESRCH && first == nil {
			first = err
		}
	}
	return first
}
