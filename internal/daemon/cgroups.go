package daemon

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// cgroupMounts lists where this host's cgroup hierarchies are mounted (every v1 controller's
// and the v2 tree, both on a hybrid host), read once.
var cgroupMounts = sync.OnceValue(func() []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	seen := map[string]bool{}
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || sep+1 >= len(fields) {
			continue
		}
		if fs := fields[sep+1]; (fs == "cgroup" || fs == "cgroup2") && !seen[fields[4]] {
			seen[fields[4]] = true
			out = append(out, fields[4])
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
