package daemon

import (
	"errors"
	"path/filepath"
	"sync"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// cgroupMounts lists where this host's cgroup hierarchies are mounted (every v1 controller's
// and the v2 tree, both on a hybrid host), read once.
var cgroupMounts = sync.OnceValue(func() []string {
	mounts, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup", "cgroup2"))
	if err != nil {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, m := range mounts {
		if !seen[m.Mountpoint] {
			seen[m.Mountpoint] = true
			out = append(out, m.Mountpoint)
		}
	}
	return out
})

// removeEmptyCgroup removes a container's cgroup directories (path is its cgroupsPath) from
// every hierarchy, if nothing is left in them, without waiting for anything. It reports
// whether it removed some and none remain: a directory still in use (a process left in it)
// is left to the runtime's delete.
func removeEmptyCgroup(path string) bool {
	removed := false
	for _, mnt := range cgroupMounts() {
		err := unix.Rmdir(filepath.Join(mnt, path))
		switch {
		case err == nil:
			removed = true
		case errors.Is(err, unix.ENOENT):
		default:
			return false
		}
	}
	return removed
}
