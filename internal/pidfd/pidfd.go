// Package pidfd waits for a child's exit without a blocking system call: a nonblocking pidfd
// waited on by the Go runtime's poller, where os.Process.Wait (and exec.Cmd.Wait) park an OS
// thread in wait4 or waitid until the child exits. For processes that live long (berthd's
// shims, a shim's container) that is one thread, and its stacks, per process waited for.
package pidfd

import (
	"os"

	"golang.org/x/sys/unix"
)

// AwaitExit returns true once process pid has exited (it is then a zombie until its parent
// reaps it), or false at once when it cannot wait that way: pidfds need Linux 5.10, and a pid
// already reaped (ESRCH) has none. pid must be a child of the caller, not yet reaped, so that
// it cannot be reused meanwhile.
func AwaitExit(pid int) bool {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return false
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	exited := false
	err = rc.Read(func(fd uintptr) bool {
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 0)
		if err == unix.EINTR {
			return false
		}
		exited = err == nil && n > 0
		return err != nil || n > 0
	})
	return err == nil && exited
}
