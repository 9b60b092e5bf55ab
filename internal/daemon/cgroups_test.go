package daemon

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCgroupMountsFindTheHierarchies(t *testing.T) {
	mounts := cgroupMounts()
	if len(mounts) == 0 {
		t.Fatal("no cgroup hierarchy found")
	}
	for _, m := range mounts {
		// Every cgroup directory (v1 or v2) has cgroup.procs.
		if _, err := os.Stat(filepath.Join(m, "cgroup.procs")); err != nil {
			t.Errorf("%s is not a cgroup hierarchy: %v", m, err)
		}
	}
}
