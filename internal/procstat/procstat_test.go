package procstat

import (
	"os"
	"testing"
)

func TestStatOfThisProcess(t *testing.T) {
	start, state, err := Stat(os.Getpid())
	if err != nil || start == 0 || state != "R" && state != "S" {
		t.Fatalf("Stat(self) = %d %q %v", start, state, err)
	}
	again, _, _ := Stat(os.Getpid())
	if again != start {
		t.Errorf("start time moved: %d then %d", start, again)
	}
	if _, _, err := Stat(-1); err == nil {
		t.Error("Stat(-1) succeeded")
	}
}
