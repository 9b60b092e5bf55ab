// Command berth-init is the init `--init` puts in a container (at /sbin/docker-init, as Docker
// puts tini there): as pid 1 it runs its arguments as a child, forwards the signals it receives
// to that child, reaps every process that is reparented to it, and exits as the child did
// (its exit code, or 128+signal). It is small and static: no libc, nothing from the image.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"unsafe"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: berth-init [--] PROGRAM [ARGS...]")
		os.Exit(1)
	}
	// Catch every signal before the child exists, so none sent in between is lost.
	sigs := make(chan os.Signal, 128)
	signal.Notify(sigs)
	path, err := lookPath(args[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "berth-init: %s: %v\n", args[0], err)
		os.Exit(127)
	}
	attr := &syscall.ProcAttr{Env: os.Environ(), Files: []uintptr{0, 1, 2}, Sys: &syscall.SysProcAttr{Setpgid: true}}
	if isTerminal(0) {
		// The child's group takes the terminal, so ^C reaches it once, from the kernel.
		attr.Sys.Foreground, attr.Sys.Ctty = true, 0
	}
	pid, err := syscall.ForkExec(path, args, attr) // caught signals are back to default in the child
	if err != nil {
		fmt.Fprintf(os.Stderr, "berth-init: exec %s: %v\n", args[0], err)
		if err == syscall.EACCES || err == syscall.ENOEXEC {
			os.Exit(126)
		}
		os.Exit(127)
	}
	for sig := range sigs {
		switch sig {
		case syscall.SIGCHLD:
			if status, done := reap(pid); done {
				os.Exit(status)
			}
		case syscall.SIGURG:
			// Go's runtime preempts goroutines with SIGURG: not the user's to forward.
		default:
			syscall.Kill(pid, sig.(syscall.Signal))
		}
	}
}

// reap collects every exited process; done when one of them was the child, with the status to
// exit with.
func reap(child int) (int, bool) {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return 0, false
		}
		if pid != child {
			continue
		}
		switch {
		case ws.Exited():
			return ws.ExitStatus(), true
		case ws.Signaled():
			return 128 + int(ws.Signal()), true
		}
	}
}

// lookPath finds a command as the shell would, with the container's PATH.
func lookPath(name string) (string, error) {
	if containsSlash(name) {
		return name, nil
	}
	dirs := os.Getenv("PATH")
	if dirs == "" {
		dirs = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	start := 0
	for i := 0; i <= len(dirs); i++ {
		if i == len(dirs) || dirs[i] == ':' {
			dir := dirs[start:i]
			start = i + 1
			if dir == "" {
				dir = "."
			}
			p := dir + "/" + name
			if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
				return p, nil
			}
		}
	}
	return "", syscall.ENOENT
}

func containsSlash(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return true
		}
	}
	return false
}

func isTerminal(fd int) bool {
	var t syscall.Termios
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TCGETS, uintptr(unsafe.Pointer(&t)))
	return errno == 0
}
