package initproc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/berthproject/berth/internal/pathsafe"
	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// prepareRootfs builds the container's filesystem under cfg.Rootfs in the new mount namespace,
// runs the create hooks, and pivots into it. Every target is resolved inside the rootfs and
// mounted through its fd, so a symlink in the image cannot redirect a mount to the host.
func (ic *initCtx) prepareRootfs() error {
	spec, rootfs := ic.cfg.Spec, ic.cfg.Rootfs
	unix.Umask(0)
	if ic.cfg.MountNS {
		if err := unix.Mount("", "/", "", PropagationFlags[spec.Linux.RootfsPropagation], ""); err != nil {
			return fmt.Errorf("set propagation of /: %w", err)
		}
		if err := parentMountPrivate(rootfs); err != nil {
			return err
		}
		if err := unix.Mount(rootfs, rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind mount rootfs %s: %w", rootfs, err)
		}
	}
	root, err := pathsafe.OpenRoot(rootfs)
	if err != nil {
		return err
	}
	defer root.Close()
	devBound := false
	for _, m := range spec.Mounts {
		if err := ic.mountOne(root, m); err != nil {
			return fmt.Errorf("mount %s to %s: %w", m.Source, m.Destination, err)
		}
		if filepath.Clean(m.Destination) == "/dev" && (m.Type == "bind" || hasOpt(m.Options, "bind") || hasOpt(m.Options, "rbind")) {
			devBound = true
		}
	}
	// The working directory is made if the image lacks it (as runc does), inside the root.
	if cwd, err := pathsafe.MkdirAll(root, ic.cfg.Process.Cwd, 0o755); err != nil {
		return fmt.Errorf("create cwd %s: %w", ic.cfg.Process.Cwd, err)
	} else {
		cwd.Close()
	}
	if !devBound {
		if err := createDevices(root, spec.Linux.Devices, ic.cfg.UserNS); err != nil {
			return err
		}
		if err := devSymlinks(root, spec.Mounts); err != nil {
			return err
		}
	}
	for k, v := range spec.Linux.Sysctl {
		path := "/proc/sys/" + strings.ReplaceAll(k, ".", "/")
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
		if err == nil {
			_, err = f.WriteString(v)
			f.Close()
		}
		if err != nil {
			return fmt.Errorf("set sysctl %s=%s: %w", k, v, err)
		}
	}
	if err := ic.hooks(); err != nil {
		return err
	}
	switch {
	case !ic.cfg.MountNS:
		return chrootOnly(rootfs)
	case ic.cfg.NoPivot:
		return moveRoot(rootfs)
	}
	return pivotRoot(rootfs)
}

func hasOpt(opts []string, o string) bool {
	for _, x := range opts {
		if x == o {
			return true
		}
	}
	return false
}

// parentMountPrivate makes the mount holding the rootfs private if it is shared, because
// pivot_root refuses a new root whose parent mount is shared.
func parentMountPrivate(rootfs string) error {
	mounts, err := mountinfo.GetMounts(nil)
	if err != nil {
		return err
	}
	var best *mountinfo.Info
	dir := filepath.Dir(rootfs)
	for _, m := range mounts {
		if (dir == m.Mountpoint || strings.HasPrefix(dir+"/", strings.TrimSuffix(m.Mountpoint, "/")+"/")) &&
			(best == nil || len(m.Mountpoint) >= len(best.Mountpoint)) {
			best = m
		}
	}
	if best != nil && strings.Contains(best.Optional, "shared:") {
		if err := unix.Mount("", best.Mountpoint, "", unix.MS_PRIVATE, ""); err != nil {
			return fmt.Errorf("make %s private: %w", best.Mountpoint, err)
		}
	}
	return nil
}

func (ic *initCtx) mountOne(root *os.File, m specs.Mount) error {
	opts, bind, rec, err := ParseMountOptions(m.Options)
	if err != nil {
		return err
	}
	if m.Type == "bind" {
		bind = true
		opts.Flags |= unix.MS_BIND
	}
	var target *os.File
	switch {
	case bind:
		src := m.Source
		if !filepath.IsAbs(src) {
			src = filepath.Join(ic.cfg.State.Bundle, src)
		}
		fi, err := os.Stat(src)
		if err != nil {
			return err
		}
		if fi.IsDir() {
			target, err = pathsafe.MkdirAll(root, m.Destination, 0o755)
		} else {
			target, err = pathsafe.CreateFile(root, m.Destination, 0o644)
		}
		if err != nil {
			return err
		}
		defer target.Close()
		sf, err := os.OpenFile(src, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer sf.Close()
		flags := uintptr(unix.MS_BIND)
		if rec {
			flags |= unix.MS_REC
		}
		if err := unix.Mount(pathsafe.ProcPath(sf), pathsafe.ProcPath(target), "", flags, ""); err != nil {
			return err
		}
		if extra := opts.Flags &^ (unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT); extra != 0 {
			if err := remountInRoot(root, m.Destination, extra); err != nil {
				return err
			}
		}
	case m.Type == "cgroup" || m.Type == "cgroup2":
		if target, err = pathsafe.MkdirAll(root, m.Destination, 0o755); err != nil {
			return err
		}
		defer target.Close()
		if err := ic.mountCgroup(root, m.Destination, target, opts.Flags); err != nil {
			return err
		}
	default:
		if target, err = pathsafe.MkdirAll(root, m.Destination, 0o755); err != nil {
			return err
		}
		defer target.Close()
		if m.Type == "proc" || m.Type == "sysfs" {
			// CVE-2019-19921: procfs and sysfs must land exactly where the spec says, not
			// wherever a symlink in the image points.
			if err := checkNotRedirected(target, ic.cfg.Rootfs, m.Destination); err != nil {
				return err
			}
		}
		err := unix.Mount(m.Source, pathsafe.ProcPath(target), m.Type, opts.Flags, opts.Data)
		if errors.Is(err, unix.EPERM) && (m.Type == "sysfs" || m.Type == "mqueue") {
			// A user namespace without its own netns/ipcns may not mount these: borrow the host's.
			host := map[string]string{"sysfs": "/sys", "mqueue": "/dev/mqueue"}[m.Type]
			err = unix.Mount(host, pathsafe.ProcPath(target), "", unix.MS_BIND|unix.MS_REC, "")
			if err == nil && opts.Flags&unix.MS_RDONLY != 0 {
				err = remountInRoot(root, m.Destination, unix.MS_RDONLY|opts.Flags&(unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC))
			}
		}
		if err != nil {
			return err
		}
	}
	if len(opts.Propagation) == 0 && opts.RecSet == 0 && opts.RecClear == 0 {
		return nil
	}
	h, err := pathsafe.Open(root, m.Destination)
	if err != nil {
		return err
	}
	defer h.Close()
	for _, p := range opts.Propagation {
		if err := unix.Mount("", pathsafe.ProcPath(h), "", p, ""); err != nil {
			return fmt.Errorf("set propagation: %w", err)
		}
	}
	if opts.RecSet != 0 || opts.RecClear != 0 {
		attr := unix.MountAttr{Attr_set: opts.RecSet, Attr_clr: opts.RecClear}
		if err := unix.MountSetattr(int(h.Fd()), "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
			return fmt.Errorf("mount_setattr: %w", err)
		}
	}
	return nil
}

// checkNotRedirected verifies that an opened target really is rootfs+dest.
func checkNotRedirected(h *os.File, rootfs, dest string) error {
	got, err := os.Readlink(pathsafe.ProcPath(h))
	if err != nil {
		return err
	}
	if want := filepath.Join(rootfs, dest); got != want {
		return fmt.Errorf("mount destination %s is a symlink (to %s): refused", dest, strings.TrimPrefix(got, rootfs))
	}
	return nil
}

// lockedFlags are the flags a remount inside a user namespace must keep.
func lockedFlags(h *os.File) uintptr {
	var st unix.Statfs_t
	if unix.Fstatfs(int(h.Fd()), &st) != nil {
		return 0
	}
	var f uintptr
	for st0, ms := range map[int64]uintptr{unix.ST_NOSUID: unix.MS_NOSUID, unix.ST_NODEV: unix.MS_NODEV,
		unix.ST_NOEXEC: unix.MS_NOEXEC, unix.ST_RDONLY: unix.MS_RDONLY, unix.ST_NOATIME: unix.MS_NOATIME,
		unix.ST_NODIRATIME: unix.MS_NODIRATIME, unix.ST_RELATIME: unix.MS_RELATIME} {
		if st.Flags&st0 != 0 {
			f |= ms
		}
	}
	return f
}

// remountInRoot applies flags to the bind mount now at dest (looked up again: the old handle
// points below the new mount).
func remountInRoot(root *os.File, dest string, flags uintptr) error {
	h, err := pathsafe.Open(root, dest)
	if err != nil {
		return err
	}
	defer h.Close()
	return remount(h, flags)
}

func remount(h *os.File, flags uintptr) error {
	err := unix.Mount("", pathsafe.ProcPath(h), "", unix.MS_BIND|unix.MS_REMOUNT|flags, "")
	if errors.Is(err, unix.EPERM) {
		err = unix.Mount("", pathsafe.ProcPath(h), "", unix.MS_BIND|unix.MS_REMOUNT|flags|lockedFlags(h), "")
	}
	if err != nil {
		return fmt.Errorf("remount: %w", err)
	}
	return nil
}

// mountCgroup gives the container its cgroup view: a cgroup2 mount on a unified host; on v1, a
// tmpfs with one directory per hierarchy. With a cgroup namespace the kernel scopes each
// hierarchy to the container's cgroup; without one, the container's own directories are bound.
func (ic *initCtx) mountCgroup(root *os.File, dest string, target *os.File, flags uintptr) error {
	cgns := HasNewNS(ic.cfg.Spec, specs.CgroupNamespace)
	ro := flags & unix.MS_RDONLY
	base := flags & (unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	own, err := OwnCgroups("/proc/self/cgroup")
	if err != nil {
		return err
	}
	if Cgroup2Host() {
		if cgns {
			if err := unix.Mount("cgroup2", pathsafe.ProcPath(target), "cgroup2", flags, ""); err == nil {
				return nil
			}
		}
		src := filepath.Join("/sys/fs/cgroup", own[""])
		if err := unix.Mount(src, pathsafe.ProcPath(target), "", unix.MS_BIND, ""); err != nil {
			return err
		}
		return remountInRoot(root, dest, base|ro)
	}
	if err := unix.Mount("tmpfs", pathsafe.ProcPath(target), "tmpfs", base, "mode=755"); err != nil {
		return err
	}
	hiers, err := CgroupV1Hierarchies()
	if err != nil {
		return err
	}
	for _, hy := range hiers {
		sub := filepath.Join(dest, hy.Name)
		h, err := pathsafe.MkdirAll(root, sub, 0o755)
		if err != nil {
			return err
		}
		if cgns {
			err = unix.Mount("cgroup", pathsafe.ProcPath(h), "cgroup", base|ro, hy.Controllers)
		} else {
			err = unix.Mount(filepath.Join(hy.Mountpoint, own[hy.Key]), pathsafe.ProcPath(h), "", unix.MS_BIND|unix.MS_REC, "")
			if err == nil {
				err = remountInRoot(root, sub, base|ro)
			}
		}
		h.Close()
		if err != nil {
			return fmt.Errorf("cgroup hierarchy %s: %w", hy.Name, err)
		}
	}
	if ro != 0 {
		return remountTmpfsRO(root, dest, base)
	}
	return nil
}

func remountTmpfsRO(root *os.File, dest string, base uintptr) error {
	h, err := pathsafe.Open(root, dest)
	if err != nil {
		return err
	}
	defer h.Close()
	return unix.Mount("", pathsafe.ProcPath(h), "", unix.MS_REMOUNT|unix.MS_RDONLY|base, "")
}

// CgroupV1Hierarchy is one cgroup v1 hierarchy mounted under /sys/fs/cgroup.
type CgroupV1Hierarchy struct {
	Name        string // directory under /sys/fs/cgroup
	Mountpoint  string
	Controllers string // mount data: "cpu,cpuacct", "name=systemd"
	Key         string // its key in OwnCgroups
}

// CgroupV1Hierarchies lists the cgroup v1 hierarchies of this mount namespace.
func CgroupV1Hierarchies() ([]CgroupV1Hierarchy, error) {
	mounts, err := mountinfo.GetMounts(func(i *mountinfo.Info) (bool, bool) {
		return i.FSType != "cgroup" || !strings.HasPrefix(i.Mountpoint, "/sys/fs/cgroup/"), false
	})
	if err != nil {
		return nil, err
	}
	var out []CgroupV1Hierarchy
	for _, m := range mounts {
		var controllers []string
		for _, o := range strings.Split(m.VFSOptions, ",") {
			if o != "rw" && o != "ro" {
				controllers = append(controllers, o)
			}
		}
		c := strings.Join(controllers, ",")
		out = append(out, CgroupV1Hierarchy{Name: filepath.Base(m.Mountpoint), Mountpoint: m.Mountpoint,
			Controllers: c, Key: strings.TrimPrefix(c, "name=")})
	}
	return out, nil
}

// OwnCgroups maps each hierarchy ("" for v2, controller list for v1) to the cgroup of a process,
// read from its /proc/<pid>/cgroup file.
func OwnCgroups(file string) (map[string]string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 {
			out[strings.TrimPrefix(parts[1], "name=")] = parts[2]
		}
	}
	return out, nil
}

// DevNode is one device node to create in a container's /dev.
type DevNode struct {
	Path         string
	Type         uint32 // S_IFCHR, S_IFBLK or S_IFIFO
	Major, Minor int64
	Mode         uint32 // permission bits
	UID, GID     uint32
}

// defaultDevices are the nodes every container gets (OCI runtime spec, "Default Devices").
var defaultDevices = []DevNode{
	{"/dev/null", unix.S_IFCHR, 1, 3, 0o666, 0, 0},
	{"/dev/zero", unix.S_IFCHR, 1, 5, 0o666, 0, 0},
	{"/dev/full", unix.S_IFCHR, 1, 7, 0o666, 0, 0},
	{"/dev/random", unix.S_IFCHR, 1, 8, 0o666, 0, 0},
	{"/dev/urandom", unix.S_IFCHR, 1, 9, 0o666, 0, 0},
	{"/dev/tty", unix.S_IFCHR, 5, 0, 0o666, 0, 0},
}

func createDevices(root *os.File, devices []specs.LinuxDevice, userNS bool) error {
	for _, n := range DeviceNodes(devices) {
		if err := createDevice(root, n, userNS); err != nil {
			return fmt.Errorf("create device %s: %w", n.Path, err)
		}
	}
	return nil
}

// DeviceNodes is the list of nodes a container's /dev gets: the defaults, replaced or extended by
// the spec's devices.
func DeviceNodes(devices []specs.LinuxDevice) []DevNode {
	nodes := append([]DevNode{}, defaultDevices...)
	for _, d := range devices {
		n := DevNode{Path: filepath.Clean(d.Path), Major: d.Major, Minor: d.Minor, Mode: 0o666}
		switch d.Type {
		case "c", "u":
			n.Type = unix.S_IFCHR
		case "b":
			n.Type = unix.S_IFBLK
		case "p":
			n.Type = unix.S_IFIFO
		}
		if d.FileMode != nil {
			n.Mode = uint32(d.FileMode.Perm())
		}
		if d.UID != nil {
			n.UID = *d.UID
		}
		if d.GID != nil {
			n.GID = *d.GID
		}
		replaced := false
		for i := range nodes {
			if nodes[i].Path == n.Path {
				nodes[i], replaced = n, true
			}
		}
		if !replaced {
			nodes = append(nodes, n)
		}
	}
	return nodes
}

func createDevice(root *os.File, n DevNode, userNS bool) error {
	if userNS {
		// mknod is not allowed in a user namespace: bind the host's node instead.
		target, err := pathsafe.CreateFile(root, n.Path, 0o644)
		if err != nil {
			return err
		}
		defer target.Close()
		return unix.Mount(n.Path, pathsafe.ProcPath(target), "", unix.MS_BIND, "")
	}
	dir, err := pathsafe.MkdirAllOpen(root, filepath.Dir(n.Path), 0o755)
	if err != nil {
		return err
	}
	defer dir.Close()
	base := filepath.Base(n.Path)
	dev := unix.Mkdev(uint32(n.Major), uint32(n.Minor))
	err = unix.Mknodat(int(dir.Fd()), base, n.Type|n.Mode, int(dev))
	if errors.Is(err, unix.EEXIST) {
		// An image may ship a placeholder; replace it unless it is a directory.
		if err = unix.Unlinkat(int(dir.Fd()), base, 0); err == nil {
			err = unix.Mknodat(int(dir.Fd()), base, n.Type|n.Mode, int(dev))
		}
	}
	if err != nil {
		return err
	}
	return unix.Fchownat(int(dir.Fd()), base, int(n.UID), int(n.GID), unix.AT_SYMLINK_NOFOLLOW)
}

// DevSymlinks lists the links (target, name) a container's /dev gets, and whether /dev/ptmx is
// replaced by a link into the container's devpts.
func DevSymlinks(mounts []specs.Mount) (links [][2]string, ptmx bool) {
	links = [][2]string{{"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"}}
	if _, err := os.Stat("/proc/kcore"); err == nil {
		links = append(links, [2]string{"/proc/kcore", "core"})
	}
	for _, m := range mounts {
		ptmx = ptmx || (m.Type == "devpts" && filepath.Clean(m.Destination) == "/dev/pts")
	}
	if ptmx {
		links = append(links, [2]string{"pts/ptmx", "ptmx"})
	}
	return links, ptmx
}

func devSymlinks(root *os.File, mounts []specs.Mount) error {
	links, ptmx := DevSymlinks(mounts)
	dir, err := pathsafe.MkdirAllOpen(root, "/dev", 0o755)
	if err != nil {
		return err
	}
	defer dir.Close()
	if ptmx {
		unix.Unlinkat(int(dir.Fd()), "ptmx", 0)
	}
	for _, l := range links {
		if err := unix.Symlinkat(l[0], int(dir.Fd()), l[1]); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("symlink /dev/%s: %w", l[1], err)
		}
	}
	return nil
}

func pivotRoot(rootfs string) error {
	oldroot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(oldroot)
	newroot, err := unix.Open(rootfs, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(newroot)
	if err := unix.Fchdir(newroot); err != nil {
		return err
	}
	// pivot_root(".", ".") stacks the old root on top of the new one; unmounting "." then
	// removes it without needing a directory for it inside the container.
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Fchdir(oldroot); err != nil {
		return err
	}
	// Slave first, so that the unmount does not propagate to the host.
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return err
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmount old root: %w", err)
	}
	return unix.Chdir("/")
}

// moveRoot is --no-pivot: for a root that cannot be pivoted (a ramdisk), move it over / and
// chroot. The old root stays reachable to a process that can escape a chroot.
func moveRoot(rootfs string) error {
	if err := unix.Chdir(rootfs); err != nil {
		return err
	}
	if err := unix.Mount(rootfs, "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move root: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return err
	}
	return unix.Chdir("/")
}

// chrootOnly enters a root without a mount namespace of its own: nothing can be moved or
// pivoted without changing the caller's namespace.
func chrootOnly(rootfs string) error {
	if err := unix.Chroot(rootfs); err != nil {
		return fmt.Errorf("chroot %s: %w", rootfs, err)
	}
	return unix.Chdir("/")
}

// finishRootfs runs after pivot_root: read-only paths, then masks (runc's order, so a container's
// mount table reads as under Docker), and a read-only root.
func (ic *initCtx) finishRootfs() error {
	spec := ic.cfg.Spec
	root, err := pathsafe.OpenRoot("/")
	if err != nil {
		return err
	}
	defer root.Close()
	for _, p := range spec.Linux.ReadonlyPaths {
		h, err := pathsafe.Open(root, p)
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENOENT) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read-only path %s: %w", p, err)
		}
		err = unix.Mount(pathsafe.ProcPath(h), pathsafe.ProcPath(h), "", unix.MS_BIND|unix.MS_REC, "")
		h.Close()
		if err == nil {
			err = remountInRoot(root, p, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC)
			if err != nil {
				err = remountInRoot(root, p, unix.MS_RDONLY)
			}
		}
		if err != nil {
			return fmt.Errorf("read-only path %s: %w", p, err)
		}
	}
	if len(spec.Linux.MaskedPaths) > 0 {
		null, err := openRealNull()
		if err != nil {
			return err
		}
		defer null.Close()
		for _, p := range spec.Linux.MaskedPaths {
			if err := maskPath(root, null, p); err != nil {
				return fmt.Errorf("mask %s: %w", p, err)
			}
		}
	}
	if spec.Root.Readonly {
		h, err := pathsafe.Open(root, "/")
		if err != nil {
			return err
		}
		defer h.Close()
		if err := remount(h, unix.MS_RDONLY); err != nil {
			return fmt.Errorf("make root read-only: %w", err)
		}
	}
	return nil
}

// openRealNull opens /dev/null and checks it is the null device: masking with whatever an
// image or a race put there instead would expose it (CVE-2025-31133).
func openRealNull() (*os.File, error) {
	f, err := os.OpenFile("/dev/null", unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
		f.Close()
		return nil, errors.New("/dev/null is not the null device: refusing to use it for masked paths")
	}
	return f, nil
}

func maskPath(root, null *os.File, p string) error {
	h, err := pathsafe.Open(root, p)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	defer h.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(h.Fd()), &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return unix.Mount("tmpfs", pathsafe.ProcPath(h), "tmpfs", unix.MS_RDONLY, "")
	}
	return unix.Mount(pathsafe.ProcPath(null), pathsafe.ProcPath(h), "", unix.MS_BIND, "")
}

// Cgroup2Host reports whether /sys/fs/cgroup is the unified hierarchy (checked here rather than
// through the cgroup library, which the init does not link).
func Cgroup2Host() bool {
	var st unix.Statfs_t
	return unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}
