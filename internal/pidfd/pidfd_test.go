package pidfd

import (
	"os/exec"
	"testing"
)

func TestAwaitExitReturnsWhenTheChildExits(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", "sleep 0.2; exit 3")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if !AwaitExit(cmd.Process.Pid) {
		t.Fatal("AwaitExit could not wait (no pidfd support?)")
	}
	// Exited, not reaped: the wait is for the parent still, and gives the status.
	if err := cmd.Wait(); cmd.ProcessState.ExitCode() != 3 {
		t.Fatalf("wait after AwaitExit: %v", err)
	}
	if AwaitExit(cmd.Process.Pid) {
		t.Fatal("AwaitExit waited for a reaped pid")
	}
}
