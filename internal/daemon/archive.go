package daemon

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/berthproject/berth/internal/archive"
	"github.com/berthproject/berth/internal/atomicfile"
	"github.com/berthproject/berth/internal/container"
	"github.com/berthproject/berth/internal/errdefs"
	"github.com/berthproject/berth/internal/oci"
	"github.com/berthproject/berth/internal/pathsafe"
	"github.com/berthproject/berth/internal/snapshot"
	"github.com/berthproject/berth/internal/volume"
	ctypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"golang.org/x/sys/unix"
)

// Every path docker cp names is resolved inside a root handle with pathsafe (openat2
// RESOLVE_IN_ROOT): a symlink, "..", or an absolute link in the container can never lead out of
// it, whatever the container does meanwhile (CVE-2018-15664). Trees are walked and written by
// file descriptor, one openat(O_NOFOLLOW) per entry, and no code of the container is ever run
// (CVE-2019-14271). A running container is reached through /proc/<pid>/root, its own view with
// every mount; a stopped one through its snapshot mounted for the call with its volumes and binds
// mounted in it, as Docker does, so that a symlink into a volume leads into the volume.

// fsView is a container's filesystem for one cp call.
type fsView struct {
	rootfs  string
	release func()
}

var stoppedMounts sync.Mutex // one temporary mount of a stopped container's snapshot at a time

// fsMountPrefix names the temporary mount of a stopped container's filesystem in its exec
// directory.
const fsMountPrefix = "fs-"

func (d *Daemon) openFS(ctx context.Context, c *container.Container) (*fsView, error) {
	if c.Status.Alive() && c.Pid > 0 {
		// The root is pinned by an fd first, then the pid checked to still be the container's
		// (its cgroup): a pid reused by a host process is never taken for the container.
		if root, err := pathsafe.OpenRoot(fmt.Sprintf("/proc/%d/root", c.Pid)); err == nil {
			cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", c.Pid))
			if err == nil && strings.Contains(string(cg), "/berth/"+c.ID) {
				return &fsView{rootfs: fmt.Sprintf("/proc/self/fd/%d", root.Fd()), release: func() { root.Close() }}, nil
			}
			root.Close()
		}
	}
	stoppedMounts.Lock()
	if err := os.MkdirAll(d.execDir(c.ID), 0o700); err != nil {
		stoppedMounts.Unlock()
		return nil, err
	}
	dir, err := os.MkdirTemp(d.execDir(c.ID), fsMountPrefix)
	if err != nil {
		stoppedMounts.Unlock()
		return nil, err
	}
	release := func() {
		began := time.Now()
		unmountTree(dir)
		d.log.Debug("unmount a stopped container's filesystem", "container", c.ID, "took", time.Since(began))
		os.Remove(dir)
		stoppedMounts.Unlock()
	}
	mounts, err := d.snaps.Mounts(ctx, c.ID)
	if err == nil {
		err = snapshot.MountAll(mounts, dir)
	}
	if err == nil {
		err = d.mountVolumesAt(c, dir)
	}
	if err != nil {
		release()
		return nil, err
	}
	return &fsView{rootfs: dir, release: release}, nil
}

// unmountTree detaches dir and every mount below it.
func unmountTree(dir string) {
	for unix.Unmount(dir, unix.MNT_DETACH) == nil {
	}
}

// mountVolumesAt binds a stopped container's volumes and binds into its root filesystem mounted
// at rootfs, each at its destination resolved inside the root (made when missing, as at start)
// and mounted through the fd of what was resolved, parents first. A bind whose source is gone is
// left out.
func (d *Daemon) mountVolumesAt(c *container.Container, rootfs string) error {
	mps := append([]container.MountPoint{}, c.MountPoints...)
	depth := func(p string) int { return strings.Count(path.Clean(p), "/") }
	sort.SliceStable(mps, func(i, j int) bool { return depth(mps[i].Destination) < depth(mps[j].Destination) })
	for _, mp := range mps {
		src := mp.Source
		if mp.Type == mount.TypeVolume {
			vol, err := d.volumes.Get(mp.Name)
			if err != nil {
				return err
			}
			if src, err = d.volumes.Mount(vol); err != nil {
				return err
			}
		}
		if mp.Subpath != "" {
			h, err := openInside(src, mp.Subpath)
			if err != nil {
				continue // as for a bind whose source is gone
			}
			defer h.Close()
			src = pathsafe.ProcPath(h)
		}
		fi, err := os.Stat(src)
		if err != nil {
			continue
		}
		if err := bindInRoot(rootfs, src, mp.Destination, fi.IsDir(), !mp.RW); err != nil {
			return fmt.Errorf("mount %s on %s: %w", src, mp.Destination, err)
		}
	}
	return nil
}

// openInside opens p resolved inside dir.
func openInside(dir, p string) (*os.File, error) {
	root, err := pathsafe.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return pathsafe.Open(root, p)
}

func bindInRoot(rootfs, src, dst string, dir, readonly bool) error {
	root, err := pathsafe.OpenRoot(rootfs)
	if err != nil {
		return err
	}
	defer root.Close()
	var target *os.File
	if dir {
		target, err = pathsafe.MkdirAll(root, dst, 0o755)
	} else {
		target, err = pathsafe.CreateFile(root, dst, 0o644)
	}
	if err != nil {
		return err
	}
	defer target.Close()
	// A detached copy of the source, made read-only before it is attached: never writable in
	// place, even for a moment.
	tree, err := unix.OpenTree(unix.AT_FDCWD, src, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return err
	}
	defer unix.Close(tree)
	if readonly {
		attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
		if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, attr); err != nil {
			return err
		}
	}
	return unix.MoveMount(tree, "", int(target.Fd()), "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)
}

// mountPointOf is the recorded mount whose destination holds p, by name (as Docker decides
// whether a cp goes into a volume), or nil.
func mountPointOf(c *container.Container, p string) *container.MountPoint {
	clean := path.Clean("/" + p)
	var best *container.MountPoint
	for i, mp := range c.MountPoints {
		if clean == mp.Destination || strings.HasPrefix(clean, mp.Destination+"/") {
			if best == nil || len(mp.Destination) > len(best.Destination) {
				best = &c.MountPoints[i]
			}
		}
	}
	return best
}

// followLast: a path ending in "/" or "/." names what a final symlink points to.
func followLast(p string) bool { return strings.HasSuffix(p, "/") || strings.HasSuffix(p, "/.") }

// resolved is a path found inside a container: its parent directory (an open handle), its name
// there, and its stat.
type resolved struct {
	parent *os.File
	base   string
	st     unix.Stat_t
	root   *os.File
}

func (r *resolved) Close() {
	r.parent.Close()
	r.root.Close()
}

func notFound(p, ref string) error {
	return errdefs.NotFound(fmt.Errorf("Could not find the file %s in container %s", p, ref))
}

// resolve finds p inside the container.
func (d *Daemon) resolve(v *fsView, p, ref string) (*resolved, error) {
	if p == "" {
		return nil, errdefs.InvalidArgument(errors.New("path cannot be empty"))
	}
	rel := path.Clean("/" + p)
	root, err := pathsafe.OpenRoot(v.rootfs)
	if err != nil {
		return nil, err
	}
	dir, base := path.Split(rel)
	if followLast(p) || base == "" {
		// The whole path is followed: the target itself serves as "parent", with base ".".
		h, err := pathsafe.Open(root, rel)
		if err != nil {
			root.Close()
			return nil, notFound(p, ref)
		}
		r := &resolved{parent: h, root: root, base: "."}
		if err := unix.Fstat(int(h.Fd()), &r.st); err != nil {
			r.Close()
			return nil, err
		}
		return r, nil
	}
	parent, err := pathsafe.Open(root, dir)
	if err != nil {
		root.Close()
		return nil, notFound(p, ref)
	}
	r := &resolved{parent: parent, base: base, root: root}
	if err := unix.Fstatat(int(parent.Fd()), base, &r.st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		r.Close()
		return nil, notFound(p, ref)
	}
	return r, nil
}

func fileMode(st *unix.Stat_t) os.FileMode {
	m := os.FileMode(st.Mode & 0o777)
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		m |= os.ModeDir
	case unix.S_IFLNK:
		m |= os.ModeSymlink
	case unix.S_IFIFO:
		m |= os.ModeNamedPipe
	case unix.S_IFSOCK:
		m |= os.ModeSocket
	case unix.S_IFCHR:
		m |= os.ModeDevice | os.ModeCharDevice
	case unix.S_IFBLK:
		m |= os.ModeDevice
	}
	if st.Mode&unix.S_ISUID != 0 {
		m |= os.ModeSetuid
	}
	if st.Mode&unix.S_ISGID != 0 {
		m |= os.ModeSetgid
	}
	if st.Mode&unix.S_ISVTX != 0 {
		m |= os.ModeSticky
	}
	return m
}

func (r *resolved) stat(p string) *ctypes.PathStat {
	name := path.Base(path.Clean("/" + p))
	ps := &ctypes.PathStat{Name: name, Size: r.st.Size, Mode: fileMode(&r.st),
		Mtime: time.Unix(r.st.Mtim.Sec, r.st.Mtim.Nsec)}
	if r.st.Mode&unix.S_IFMT == unix.S_IFLNK {
		if target, err := readlinkat(int(r.parent.Fd()), r.base); err == nil {
			if !path.IsAbs(target) {
				target = path.Join(path.Dir(path.Clean("/"+p)), target)
			}
			ps.LinkTarget = target
		}
	}
	return ps
}

func readlinkat(dirfd int, name string) (string, error) {
	buf := make([]byte, 4096)
	n, err := unix.Readlinkat(dirfd, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// ContainerStatPath answers HEAD /containers/{id}/archive.
func (d *Daemon) ContainerStatPath(ctx context.Context, ref, p string) (*ctypes.PathStat, error) {
	c, err := d.containers.Get(ref)
	if err != nil {
		return nil, err
	}
	v, err := d.openFS(ctx, c)
	if err != nil {
		return nil, err
	}
	defer v.release()
	r, err := d.resolve(v, p, ref)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.stat(p), nil
}

// ContainerArchivePath answers GET /containers/{id}/archive: the stat, then a tar of the path
// written by start (once the stat is known, so the handler can set its header first).
func (d *Daemon) ContainerArchivePath(ctx context.Context, ref, p string, start func(*ctypes.PathStat) io.Writer) error {
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	v, err := d.openFS(ctx, c)
	if err != nil {
		return err
	}
	defer v.release()
	r, err := d.resolve(v, p, ref)
	if err != nil {
		return err
	}
	defer r.Close()
	w := start(r.stat(p))
	name := path.Base(path.Clean("/" + p))
	if strings.HasSuffix(p, "/.") {
		name = "."
	}
	tw := tar.NewWriter(w)
	if err := writeTree(ctx, tw, int(r.parent.Fd()), r.base, name, map[uint64]string{}); err != nil {
		return err
	}
	return tw.Close()
}

// writeTree adds the entry base of directory dirfd (and, for a directory, everything below it,
// each opened relative to its parent's fd without following symlinks) under the tar name name.
func writeTree(ctx context.Context, tw *tar.Writer, dirfd int, base, name string, inodes map[uint64]string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	hdr := &tar.Header{Name: name, Mode: int64(st.Mode & 0o7777), Uid: int(st.Uid), Gid: int(st.Gid),
		ModTime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec), Format: tar.FormatPAX}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		hdr.Typeflag, hdr.Name = tar.TypeDir, name+"/"
		if name == "." {
			hdr.Name = "./"
		}
		fd, err := unix.Openat(dirfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		dir := os.NewFile(uintptr(fd), name)
		defer dir.Close()
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		names, err := dir.Readdirnames(-1)
		if err != nil {
			return err
		}
		sort.Strings(names)
		for _, n := range names {
			if err := writeTree(ctx, tw, fd, n, path.Join(name, n), inodes); err != nil {
				return err
			}
		}
		return nil
	case unix.S_IFREG:
		if st.Nlink > 1 {
			if first, ok := inodes[st.Ino]; ok {
				hdr.Typeflag, hdr.Linkname = tar.TypeLink, first
				return tw.WriteHeader(hdr)
			}
			inodes[st.Ino] = name
		}
		fd, err := unix.Openat(dirfd, base, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(fd), name)
		defer f.Close()
		var fst unix.Stat_t
		if err := unix.Fstat(fd, &fst); err != nil || fst.Mode&unix.S_IFMT != unix.S_IFREG {
			return fmt.Errorf("%s changed while being copied", name)
		}
		hdr.Typeflag, hdr.Size = tar.TypeReg, fst.Size
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err = io.Copy(tw, io.LimitReader(f, fst.Size))
		return err
	case unix.S_IFLNK:
		target, err := readlinkat(dirfd, base)
		if err != nil {
			return err
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	default:
		return nil // sockets are not archived
	}
	return tw.WriteHeader(hdr)
}

// ContainerExtractToDir answers PUT /containers/{id}/archive: the tar is extracted into the
// directory path, confined to it by internal/archive; entries are owned by the container's root,
// or with copyUIDGID by its user, as Docker does. It is extracted into a hidden staging directory
// there first, then moved into place entry by entry (archive.MoveInto), so a copy cut short
// (the daemon killed) leaves nothing half-written in sight: a journal in the container's
// directory names the staging directory, which the next start removes.
func (d *Daemon) ContainerExtractToDir(ctx context.Context, ref, p string, noOverwriteDirNonDir, copyUIDGID bool, r io.Reader) error {
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	if mp := mountPointOf(c, p); mp != nil && !mp.RW {
		return errdefs.InvalidArgument(errors.New("mounted volume is marked read-only"))
	}
	v, err := d.openFS(ctx, c)
	if err != nil {
		return err
	}
	defer v.release()
	root, err := pathsafe.OpenRoot(v.rootfs)
	if err != nil {
		return err
	}
	defer root.Close()
	h, err := pathsafe.Open(root, path.Clean("/"+p))
	if err != nil {
		return notFound(p, ref)
	}
	defer h.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(h.Fd()), &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return errdefs.InvalidArgument(errors.New("extraction point is not a directory"))
	}
	if c.HostConfig != nil && c.HostConfig.ReadonlyRootfs && sameMount(root, h) {
		return errdefs.Forbidden(errors.New("container rootfs is marked read-only"))
	}
	owner := &archive.Owner{}
	if copyUIDGID && c.Config.User != "" {
		if u, err := oci.ResolveUser(v.rootfs, c.Config.User); err == nil {
			owner = &archive.Owner{UID: int(u.UID), GID: int(u.GID)}
		}
	}
	dst, err := pathsafe.Reopen(h, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer dst.Close()
	staging := cpStagingPrefix + volume.NewName()[:16]
	journal := filepath.Join(d.containers.Dir(c.ID), cpJournalPrefix+staging)
	if err := atomicfile.WriteFile(journal, []byte(path.Clean("/"+p)), 0o600); err != nil {
		return err
	}
	defer os.Remove(journal) // last: after the staging directory is gone
	if err := unix.Mkdirat(int(dst.Fd()), staging, 0o700); err != nil {
		return err
	}
	defer archive.RemoveAt(int(dst.Fd()), staging)
	sfd, err := unix.Openat(int(dst.Fd()), staging, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(sfd)
	began := time.Now()
	_, err = archive.Apply(ctx, fmt.Sprintf("/proc/self/fd/%d", sfd), r,
		archive.ApplyOptions{Whiteouts: archive.WhiteoutNone, Owner: owner})
	extracted := time.Now()
	if err == nil {
		err = archive.MoveInto(sfd, int(dst.Fd()), "", noOverwriteDirNonDir)
	}
	d.log.Debug("cp into container", "container", c.ID, "extract", extracted.Sub(began), "move", time.Since(extracted))
	if err != nil {
		return errdefs.InvalidArgument(err)
	}
	return nil
}

const (
	cpStagingPrefix = ".berth-cp-" // a copy into a container being extracted, in its destination
	cpJournalPrefix = "cp-"        // in the container's directory: where that staging directory is
)

// sameMount reports whether two handles lie on the same mount.
func sameMount(a, b *os.File) bool {
	var sa, sb unix.Statx_t
	flags := unix.AT_EMPTY_PATH | unix.AT_SYMLINK_NOFOLLOW
	if unix.Statx(int(a.Fd()), "", flags, unix.STATX_MNT_ID, &sa) != nil ||
		unix.Statx(int(b.Fd()), "", flags, unix.STATX_MNT_ID, &sb) != nil {
		return true
	}
	return sa.Mnt_id == sb.Mnt_id
}

// removeFileLeftovers runs at start: it undoes what a daemon killed during a cp left, the
// temporary mounts of stopped containers and the staging directories of copies into containers
// (found through their journals).
func (d *Daemon) removeFileLeftovers(ctx context.Context) {
	for _, c := range d.containers.List() {
		mounts, _ := filepath.Glob(filepath.Join(d.execDir(c.ID), fsMountPrefix+"*"))
		for _, dir := range mounts {
			unmountTree(dir)
			os.Remove(dir)
		}
		journals, _ := filepath.Glob(filepath.Join(d.containers.Dir(c.ID), cpJournalPrefix+cpStagingPrefix+"*"))
		for _, j := range journals {
			if err := d.removeCopyStaging(ctx, c, j); err != nil {
				d.log.Warn("remove an interrupted copy", "container", c.ID, "err", err)
				continue
			}
			os.Remove(j)
		}
	}
}

func (d *Daemon) removeCopyStaging(ctx context.Context, c *container.Container, journal string) error {
	p, err := os.ReadFile(journal)
	if err != nil {
		return err
	}
	staging := strings.TrimPrefix(filepath.Base(journal), cpJournalPrefix)
	v, err := d.openFS(ctx, c)
	if err != nil {
		return err
	}
	defer v.release()
	root, err := pathsafe.OpenRoot(v.rootfs)
	if err != nil {
		return err
	}
	defer root.Close()
	h, err := pathsafe.Open(root, string(p))
	if err != nil {
		return nil // the destination is gone, and the staging directory with it
	}
	defer h.Close()
	dir, err := pathsafe.Reopen(h, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil
	}
	defer dir.Close()
	return archive.RemoveAt(int(dir.Fd()), staging)
}
