package daemon

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/berthproject/berth/internal/errdefs"
	ctypes "github.com/moby/moby/api/types/container"
	"golang.org/x/sys/unix"
)

// layerDirs are the overlay upper directory of a container's snapshot and its lower ones.
func (d *Daemon) layerDirs(ctx context.Context, id string) (upper string, lowers []string, err error) {
	mounts, err := d.snaps.Mounts(ctx, id)
	if err != nil {
		return "", nil, err
	}
	for _, m := range mounts {
		for _, o := range m.Options {
			if v, ok := strings.CutPrefix(o, "upperdir="); ok {
				upper = v
			}
			if v, ok := strings.CutPrefix(o, "lowerdir="); ok {
				lowers = strings.Split(v, ":")
			}
		}
		if m.Type == "bind" && upper == "" {
			upper = m.Source // an image without layers: everything is the container's
		}
	}
	if upper == "" {
		return "", nil, errors.New("the container's filesystem has no writable layer")
	}
	return upper, lowers, nil
}

// initPaths are what Docker keeps in a container's init layer (mount points of /etc files and
// pseudo filesystems): never listed as changes.
var initPaths = map[string]bool{"/dev": true, "/dev/pts": true, "/dev/shm": true, "/dev/console": true, "/proc": true,
	"/sys": true, "/etc/hosts": true, "/etc/hostname": true, "/etc/resolv.conf": true, "/etc/mtab": true, "/.dockerenv": true}

// isWhiteout: overlayfs marks a deleted entry with a 0/0 character device.
func isWhiteout(st *unix.Stat_t) bool { return st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0 }

// ContainerChanges answers GET /containers/{id}/changes: what the container's layer adds (A),
// changes (C) or deletes (D, overlay whiteouts) against its image.
func (d *Daemon) ContainerChanges(ctx context.Context, ref string) ([]ctypes.FilesystemChange, error) {
	c, err := d.containers.Get(ref)
	if err != nil {
		return nil, err
	}
	upper, lowers, err := d.layerDirs(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	inLower := func(p string) bool {
		for _, l := range lowers {
			if _, err := os.Lstat(l + p); err == nil {
				return true
			}
		}
		return false
	}
	var out []ctypes.FilesystemChange
	hidden := map[string]bool{} // directories holding init paths
	var walk func(rel string) error
	walk = func(rel string) error {
		f, err := os.Open(upper + rel)
		if err != nil {
			return err
		}
		names, err := f.Readdirnames(-1)
		f.Close()
		if err != nil {
			return err
		}
		for _, n := range names {
			p := path.Join("/", rel, n)
			var st unix.Stat_t
			if err := unix.Lstat(upper+p, &st); err != nil {
				return err
			}
			if initPaths[p] {
				hidden[path.Dir(p)] = true
				continue
			}
			switch {
			case isWhiteout(&st):
				out = append(out, ctypes.FilesystemChange{Kind: ctypes.ChangeDelete, Path: p})
				continue
			case inLower(p):
				out = append(out, ctypes.FilesystemChange{Kind: ctypes.ChangeModify, Path: p})
			default:
				out = append(out, ctypes.FilesystemChange{Kind: ctypes.ChangeAdd, Path: p})
			}
			if st.Mode&unix.S_IFMT == unix.S_IFDIR {
				if err := walk(p); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(""); err != nil {
		return nil, err
	}
	// A directory changed only by init paths below it is not a change.
	var kept []ctypes.FilesystemChange
	for _, ch := range out {
		if ch.Kind == ctypes.ChangeModify && hidden[ch.Path] && !hasChild(out, ch.Path) {
			continue
		}
		kept = append(kept, ch)
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i].Path < kept[j].Path })
	if kept == nil {
		kept = []ctypes.FilesystemChange{}
	}
	return kept, nil
}

func hasChild(list []ctypes.FilesystemChange, dir string) bool {
	for _, ch := range list {
		if strings.HasPrefix(ch.Path, dir+"/") {
			return true
		}
	}
	return false
}

// ContainerExport answers GET /containers/{id}/export: the container's filesystem (image and
// container layer, without its volumes and mounts) as a tar, written by fd.
func (d *Daemon) ContainerExport(ctx context.Context, ref string, start func() io.Writer) error {
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	// The snapshot mounted for the call: a running container's mounts are in its own namespace.
	stopped := *c
	stopped.Pid = 0
	v, err := d.openFS(ctx, &stopped)
	if err != nil {
		return err
	}
	defer v.release()
	root, err := os.Open(v.rootfs)
	if err != nil {
		return errdefs.NotFound(err)
	}
	defer root.Close()
	names, err := root.Readdirnames(-1)
	if err != nil {
		return err
	}
	sort.Strings(names)
	tw := tar.NewWriter(start())
	inodes := map[uint64]string{}
	for _, n := range names {
		if err := writeTree(ctx, tw, int(root.Fd()), n, n, inodes); err != nil {
			return err
		}
	}
	return tw.Close()
}
