package shim

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/berthproject/berth/internal/pidfd"
	"golang.org/x/sys/unix"
)

// command is a runtime command: os/exec without its weight (and without a thread parked in
// wait4 while it runs).
type command struct {
	args                  []string   // args[0] is the program
	stdin, stdout, stderr *os.File   // nil: /dev/null
	extraFiles            []*os.File // fds 3, 4, ...
}

// files are the command's files, 0, 1, 2 (/dev/null for those not given), then extraFiles.
func (c *command) files() (files []*os.File, closeFiles func(), err error) {
	files = []*os.File{c.stdin, c.stdout, c.stderr}
	var opened []*os.File
	closeFiles = func() {
		for _, f := range opened {
			f.Close()
		}
	}
	for i, f := range files {
		if f == nil {
			devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
			if err != nil {
				closeFiles()
				return nil, nil, err
			}
			opened = append(opened, devnull)
			files[i] = devnull
		}
	}
	return append(files, c.extraFiles...), closeFiles, nil
}

// run runs the command to completion. Its error reads as os/exec's ("exit status 1").
func (c *command) run() error {
	files, closeFiles, err := c.files()
	if err != nil {
		return err
	}
	defer closeFiles()
	path, err := lookPath(c.args[0])
	if err != nil {
		return err
	}
	p, err := os.StartProcess(path, c.args, &os.ProcAttr{Files: files})
	if err != nil {
		return err
	}
	defer p.Release()
	return waitChild(p.Pid, path)
}

// waitChild waits for child pid, started from path, to exit; its error reads as os/exec's.
func waitChild(pid int, path string) error {
	awaitExit(pid)
	var ws unix.WaitStatus
	var err error
	for {
		_, err = unix.Wait4(pid, &ws, 0, nil)
		if err != unix.EINTR {
			break
		}
	}
	switch {
	case err != nil:
		return wrap("wait for "+filepath.Base(path), err)
	case ws.Signaled():
		return errors.New("signal: " + ws.Signal().String())
	case ws.ExitStatus() != 0:
		return errors.New("exit status " + strconv.Itoa(ws.ExitStatus()))
	}
	return nil
}

// lookPath finds a program named without a slash on PATH, as os/exec does.
func lookPath(name string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New("exec: " + strconv.Quote(name) + ": executable file not found in $PATH")
}

// noPidfd is set when a child's exit cannot be waited for on a pidfd (before Linux 5.10).
var noPidfd atomic.Bool

// awaitExit returns once child pid has exited, or at once if it cannot tell (see pidfd): the
// caller then learns of the exit some other way.
func awaitExit(pid int) {
	if !pidfd.AwaitExit(pid) && unix.Kill(pid, 0) == nil {
		noPidfd.Store(true) // alive, or a zombie, yet no pidfd: the kernel has none to give
	}
}

// listenUnix listens on a unix socket at path (mode 0600) with a nonblocking descriptor, which
// os.File hands to the runtime's poller.
func listenUnix(path string) (*os.File, error) {
	os.Remove(path)
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	old := unix.Umask(0o177)
	err = unix.Bind(fd, &unix.SockaddrUnix{Name: path})
	unix.Umask(old)
	if err == nil {
		err = unix.Listen(fd, 128)
	}
	if err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "listen", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// accept takes the next connection on l (honouring its read deadline), nonblocking as well.
func accept(l *os.File) (*os.File, error) {
	rc, err := l.SyscallConn()
	if err != nil {
		return nil, err
	}
	nfd := -1
	var aerr error
	err = rc.Read(func(fd uintptr) bool {
		// The raw call: unix.Accept4 decodes the peer's address, with every address family's
		// code behind it, and a unix socket's peer has none worth reading.
		r, _, errno := unix.Syscall6(unix.SYS_ACCEPT4, fd, 0, 0, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
		if nfd, aerr = int(r), nil; errno != 0 {
			aerr = errno
		}
		return aerr != unix.EAGAIN && aerr != unix.EINTR
	})
	if err == nil {
		err = aerr
	}
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(nfd), "conn"), nil
}

// recvmsg reads one message and its control data from a nonblocking socket, as unix.Recvmsg
// without decoding the sender's address (see accept).
func recvmsg(conn *os.File, buf, oob []byte) (n, oobn int, err error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return 0, 0, err
	}
	iov := unix.Iovec{Base: &buf[0]}
	iov.SetLen(len(buf))
	msg := unix.Msghdr{Iov: &iov, Iovlen: 1, Control: &oob[0]}
	msg.SetControllen(len(oob))
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		r, _, errno := unix.Syscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&msg)), unix.MSG_CMSG_CLOEXEC)
		if n, rerr = int(r), nil; errno != 0 {
			rerr = errno
		}
		return rerr != unix.EAGAIN && rerr != unix.EINTR
	})
	if err == nil {
		err = rerr
	}
	return n, int(msg.Controllen), err
}

// setDeadline gives f a read deadline timeout from now.
func setDeadline(f *os.File, timeout time.Duration) {
	f.SetReadDeadline(time.Now().Add(timeout))
}
