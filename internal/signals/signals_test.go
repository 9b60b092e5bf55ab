package signals

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]unix.Signal{"KILL": unix.SIGKILL, "SIGTERM": unix.SIGTERM, "usr1": unix.SIGUSR1, "9": unix.SIGKILL, "sigint": unix.SIGINT} {
		if got, err := Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "NOPE", "0", "65", "-1"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}
