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

func TestStartFailureCode(t *testing.T) {
	for msg, want := range map[string]int{
		`exec: "nosuch": executable file not found in $PATH`: 127,
		`exec: "/no/such": no such file or directory`:        127,
		`exec: "/etc/passwd": permission denied`:             126,
		`exec format error`:                                  126,
		`cgroup: device busy`:                                9,
	} {
		if got := StartFailureCode(msg, 9); got != want {
			t.Errorf("%q: %d, want %d", msg, got, want)
		}
	}
}
