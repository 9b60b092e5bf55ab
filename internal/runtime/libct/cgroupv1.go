package libct

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/opencontainers/cgroups"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/internal/runtime/cgroup"
	"github.com/berthproject/berth/internal/runtime/initproc"
)

// The cgroup v1 hierarchies are found in mountinfo, which the kernel writes out a line per mount
// of the host: two per running container (its root filesystem and its network namespace), with
// overlayfs's long options. On a host running a few dozen containers a read costs a millisecond
// or more, and a create needs the hierarchies twice on its path (the container's cgroup, the
// container's /sys/fs/cgroup). A runtime started ahead reads them in Prepare; a create uses what
// was read while the process is in the same hierarchies and each is still mounted where it was.
var v1Hierarchies struct {
	sync.Mutex
	list    []initproc.CgroupV1Hierarchy
	key     string // v1Key when list was read
	checked bool   // list was read or checked by this command (not ahead of it): no check again
}

// prepareCgroupV1 reads the cgroup v1 hierarchies ahead of need (see v1Hierarchies); the
// command that comes later checks them once.
func prepareCgroupV1() {
	if !cgroup.V2() {
		cgroupV1Hierarchies()
		v1Hierarchies.Lock()
		v1Hierarchies.checked = false
		v1Hierarchies.Unlock()
	}
}

// cgroupV1Hierarchies is initproc.CgroupV1Hierarchies, remembered (see v1Hierarchies).
func cgroupV1Hierarchies() ([]initproc.CgroupV1Hierarchy, error) {
	v1Hierarchies.Lock()
	defer v1Hierarchies.Unlock()
	if v1Hierarchies.list != nil && v1Hierarchies.checked {
		return v1Hierarchies.list, nil
	}
	key := v1Key()
	if v1Hierarchies.list != nil && key != "" && key == v1Hierarchies.key && stillCgroupMounts(v1Hierarchies.list) {
		v1Hierarchies.checked = true
		return v1Hierarchies.list, nil
	}
	list, err := initproc.CgroupV1Hierarchies()
	if err != nil {
		return nil, err
	}
	v1Hierarchies.list, v1Hierarchies.key, v1Hierarchies.checked = list, key, true
	return list, nil
}

// v1Key names the cgroup v1 hierarchies this process is in (its /proc/self/cgroup, paths left
// out): "" if it cannot be read.
func v1Key() string {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return ""
	}
	var hiers []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if id, rest, ok := strings.Cut(line, ":"); ok && id != "0" {
			controllers, _, _ := strings.Cut(rest, ":")
			hiers = append(hiers, id+":"+controllers)
		}
	}
	slices.Sort(hiers)
	return strings.Join(hiers, ";")
}

func stillCgroupMounts(list []initproc.CgroupV1Hierarchy) bool {
	for _, h := range list {
		var st unix.Statfs_t
		if unix.Statfs(h.Mountpoint, &st) != nil || st.Type != unix.CGROUP_SUPER_MAGIC {
			return false
		}
	}
	return true
}

// v1Subsystems are the controllers (and named hierarchies) the cgroup library manages on v1,
// by the names it keys its paths with.
var v1Subsystems = []string{"cpuset", "devices", "memory", "cpu", "cpuacct", "pids", "blkio", "hugetlb",
	"net_cls", "net_prio", "perf_event", "freezer", "rdma", "name=systemd", "misc"}

// cgroupV1Paths is where the cgroup at the absolute path cgPath is in each v1 hierarchy, as the
// cgroup library would find it itself, but from the remembered hierarchies; nil leaves it to the
// library (cgroup v2, a relative path, no devices hierarchy).
func cgroupV1Paths(cgPath string) map[string]string {
	if !filepath.IsAbs(cgPath) || cgroup.V2() {
		return nil
	}
	hiers, err := cgroupV1Hierarchies()
	if err != nil {
		return nil
	}
	paths := map[string]string{}
	for _, h := range hiers {
		for _, c := range strings.Split(h.Controllers, ",") {
			if slices.Contains(v1Subsystems, c) {
				paths[c] = filepath.Join(h.Mountpoint, cgPath)
			}
		}
	}
	if paths["devices"] == "" {
		return nil // the library says why a container cannot go without
	}
	if cgroups.IsCgroup2HybridMode() {
		// The v2 hierarchy beside the v1 ones, which the library joins too (its "" subsystem).
		paths[""] = filepath.Join("/sys/fs/cgroup/unified", cgPath)
	}
	return paths
}
