package libct

import (
	"maps"
	"testing"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/fs"

	"github.com/berthproject/berth/internal/runtime/cgroup"
)

// TestCgroupV1PathsAsTheLibrary: the paths worked out from the remembered hierarchies are the
// ones the cgroup library finds itself (on cgroup v2 there are none: the library finds them).
func TestCgroupV1PathsAsTheLibrary(t *testing.T) {
	const cgPath = "/berth-test/paths"
	got := cgroupV1Paths(cgPath)
	if cgroup.V2() {
		if got != nil {
			t.Fatalf("on cgroup v2: %v, want nil", got)
		}
		return
	}
	m, err := fs.NewManager(&cgroups.Cgroup{Path: cgPath, Resources: &cgroups.Resources{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := m.GetPaths(); !maps.Equal(got, want) {
		t.Errorf("cgroupV1Paths = %v\nthe library's = %v", got, want)
	}
	// Remembered: the second answer is the first's list, not a new read.
	a, _ := cgroupV1Hierarchies()
	b, _ := cgroupV1Hierarchies()
	if len(a) == 0 || &a[0] != &b[0] {
		t.Errorf("the hierarchies were read again (%d, %d)", len(a), len(b))
	}
	if cgroupV1Paths("relative/path") != nil {
		t.Errorf("a relative cgroup path is not left to the library")
	}
}
