package initproc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/berthproject/berth/internal/pathsafe"
	"golang.org/x/sys/unix"
)

// setupConsole gives the process a new pseudo-terminal: the master goes to whoever listens on the
// console socket (the shim, or `run` itself), the slave becomes the process's controlling
// terminal and stdio, and, for a new container, /dev/console.
func (ic *initCtx) setupConsole() error {
	if ic.cfg.ConsoleFd == 0 {
		return errors.New("terminal requested but no console socket was given")
	}
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /dev/ptmx: %w", err)
	}
	defer master.Close()
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		return fmt.Errorf("unlock pty: %w", err)
	}
	return ic.attachConsole(master)
}

func (ic *initCtx) attachConsole(master *os.File) error {
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		return fmt.Errorf("pty number: %w", err)
	}
	name := "/dev/pts/" + strconv.Itoa(n)
	sfd, _, errno := unix.Syscall(unix.SYS_IOCTL, master.Fd(), unix.TIOCGPTPEER, uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	if errno != 0 {
		return fmt.Errorf("open pty slave: %w", errno)
	}
	slave := os.NewFile(sfd, name)
	defer slave.Close()
	if sz := ic.cfg.Process.ConsoleSize; sz != nil {
		ws := &unix.Winsize{Row: uint16(sz.Height), Col: uint16(sz.Width)}
		if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, ws); err != nil {
			return fmt.Errorf("set console size: %w", err)
		}
	}
	if ic.cfg.Mode == "create" {
		if err := bindConsole(slave); err != nil {
			return err
		}
	}
	rights := unix.UnixRights(int(master.Fd()))
	if err := unix.Sendmsg(ic.cfg.ConsoleFd, []byte(name), rights, nil, 0); err != nil {
		return fmt.Errorf("send console master: %w", err)
	}
	unix.Close(ic.cfg.ConsoleFd)
	if _, err := unix.Setsid(); err != nil {
		return fmt.Errorf("setsid: %w", err)
	}
	if err := unix.IoctlSetInt(int(slave.Fd()), unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("set controlling terminal: %w", err)
	}
	for fd := 0; fd < 3; fd++ {
		if err := unix.Dup3(int(slave.Fd()), fd, 0); err != nil {
			return fmt.Errorf("dup pty to fd %d: %w", fd, err)
		}
	}
	return nil
}

// bindConsole mounts the pty slave on /dev/console. The target is created without following a
// symlink, and must end up a regular file: an image's /dev/console symlink would otherwise aim
// the mount at a file of the attacker's choosing (CVE-2025-52565).
func bindConsole(slave *os.File) error {
	root, err := pathsafe.OpenRoot("/")
	if err != nil {
		return err
	}
	defer root.Close()
	dir, err := pathsafe.MkdirAllOpen(root, "/dev", 0o755)
	if err != nil {
		return err
	}
	defer dir.Close()
	var st unix.Stat_t
	if err := unix.Fstatat(int(dir.Fd()), "console", &st, unix.AT_SYMLINK_NOFOLLOW); err == nil && st.Mode&unix.S_IFMT != unix.S_IFREG {
		if err := unix.Unlinkat(int(dir.Fd()), "console", 0); err != nil {
			return fmt.Errorf("replace /dev/console: %w", err)
		}
	}
	fd, err := unix.Openat(int(dir.Fd()), "console", unix.O_CREAT|unix.O_NOFOLLOW|unix.O_PATH|unix.O_CLOEXEC, 0o600)
	if err != nil {
		// O_PATH ignores O_CREAT: create first, then open the path handle.
		cfd, cerr := unix.Openat(int(dir.Fd()), "console", unix.O_CREAT|unix.O_NOFOLLOW|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
		if cerr != nil {
			return fmt.Errorf("create /dev/console: %w", cerr)
		}
		unix.Close(cfd)
		if fd, err = unix.Openat(int(dir.Fd()), "console", unix.O_NOFOLLOW|unix.O_PATH|unix.O_CLOEXEC, 0); err != nil {
			return fmt.Errorf("open /dev/console: %w", err)
		}
	}
	target := os.NewFile(uintptr(fd), filepath.Join("/dev", "console"))
	defer target.Close()
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return errors.New("/dev/console is not a regular file: refused")
	}
	return unix.Mount(pathsafe.ProcPath(slave), pathsafe.ProcPath(target), "", unix.MS_BIND, "")
}
