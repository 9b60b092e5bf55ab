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
