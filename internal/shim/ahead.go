package shim

import (
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// RuntimeAhead is a runtime started before its command line is known (berth-runtime --args-fd):
// by a shim berthd starts ahead of need, so that the runtime's own start-up is done too when a
// container comes.
type RuntimeAhead struct {
	Path string
	pid  int
	sock int // our end of the socket its command line goes through
}

// StartRuntimeAhead starts path --args-fd 3; nil if it cannot (the runtime is then run as usual).
func StartRuntimeAhead(path string) *RuntimeAhead {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil
	}
	child := os.NewFile(uintptr(fds[1]), "runtime-args")
	p, err := os.StartProcess(path, []string{path, "--args-fd", "3"}, &os.ProcAttr{Files: []*os.File{devnull, devnull, devnull, child}})
	devnull.Close()
	child.Close()
	if err != nil {
		unix.Close(fds[0])
		return nil
	}
	p.Release()
	return &RuntimeAhead{Path: path, pid: p.Pid, sock: fds[0]}
}

// run gives the runtime cmd's arguments and files and waits for it, as cmd.run would run it.
// given is false when the runtime could not be given them (it died meanwhile): the caller runs
// cmd itself.
func (a *RuntimeAhead) run(cmd *command) (given bool, err error) {
	files, closeFiles, err := cmd.files()
	if err != nil {
		a.Discard()
		return true, err
	}
	defer closeFiles()
	fds := make([]int, len(files))
	for i, f := range files {
		fds[i] = int(f.Fd())
	}
	err = unix.Sendmsg(a.sock, []byte(strings.Join(cmd.args[1:], "\x00")), unix.UnixRights(fds...), nil, 0)
	unix.Close(a.sock)
	if err != nil {
		a.reap()
		return false, nil
	}
	return true, waitChild(a.pid, a.Path)
}

// Discard ends a runtime that is not needed: it reads end-of-file and exits.
func (a *RuntimeAhead) Discard() {
	unix.Close(a.sock)
	a.reap()
}

// reap waits for the runtime to exit, as any runtime command is waited for (waitChild).
func (a *RuntimeAhead) reap() { waitChild(a.pid, a.Path) }
