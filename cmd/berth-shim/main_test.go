package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestShimStaysLight: one berth-shim runs per container and its code is resident in each, so
// the packages that made it heavy (reflection, the net stack, os/exec, os/signal) must not come
// back into the binary through some import.
func TestShimStaysLight(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "berth-shim")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command("go", "tool", "nm", bin).Output()
	if err != nil {
		t.Fatalf("go tool nm: %v", err)
	}
	banned := []string{"reflect.", "encoding/json.", "fmt.", "net.", "os/exec.", "os/signal.", "flag.", "context."}
	found := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Fields(line) // address, type, name
		if len(fields) != 3 || (fields[1] != "T" && fields[1] != "t") {
			continue
		}
		sym := fields[2]
		if strings.HasSuffix(sym, ".init") { // a package's init runs when only imported
			continue
		}
		for _, b := range banned {
			if strings.HasPrefix(sym, b) {
				found[b] = sym
			}
		}
	}
	for pkg, sym := range found {
		t.Errorf("berth-shim links %s (%s)", strings.TrimSuffix(pkg, "."), sym)
	}
}
