// Package signals names signals and reads wait statuses the way docker, runc and shells do.
package signals

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Parse accepts "KILL", "SIGKILL", "kill" or "9".
func Parse(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("invalid signal number %d", n)
		}
		return unix.Signal(n), nil
	}
	sig := unix.SignalNum("SIG" + strings.TrimPrefix(strings.ToUpper(s), "SIG"))
	if sig == 0 {
		return 0, fmt.Errorf("unknown signal %q", s)
	}
	return sig, nil
}

// ExitCode is a shell's reading of a wait status: the exit code, or 128+signal.
func ExitCode(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// StartFailureCode is the exit status Docker gives a command that could not be started, from
// the runtime's words: 127 when it is not found, 126 when it cannot be executed, else fallback.
func StartFailureCode(msg string, fallback int) int {
	switch {
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory"):
		return 127
	case strings.Contains(msg, "permission denied"), strings.Contains(msg, "exec format error"):
		return 126
	}
	return fallback
}
