// Package archive applies image layers (tar streams) to a directory. Every entry is resolved
// inside the destination with internal/pathsafe (absolute symlinks and ".." clamp to the
// destination, as if chrooted, the way Docker extracts), and created relative to the file
// descriptor of its parent, so no entry, symlink or race can write outside the destination.
package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/berthproject/berth/internal/pathsafe"
	"golang.org/x/sys/unix"
)

// WhiteoutMode says how a layer's deletions (".wh." entries) are written.
type WhiteoutMode int

const (
	// WhiteoutOverlay writes overlayfs whiteouts: a 0/0 character device for a deleted entry and
	// the trusted.overlay.opaque xattr for an opaque directory. For an overlay upper directory.
	WhiteoutOverlay WhiteoutMode = iota
	// WhiteoutRemove deletes the entries: for a directory that already holds the layers below.
	WhiteoutRemove
	// WhiteoutNone: ".wh." entries are ordinary files (docker cp, PUT archive).
	WhiteoutNone
)

const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
)

// ApplyOptions tune Apply.
type ApplyOptions struct {
	Whiteouts WhiteoutMode
	// Owner, when set, owns every entry instead of the tar's uid/gid (docker cp).
	Owner *Owner
}

// Owner is a uid and gid.
type Owner struct{ UID, GID int }

// Apply extracts the tar stream r into dir and returns the layer's size as Docker counts it: the
// bytes of file content written plus the length of each symlink's target (what a walk of the
// extracted tree sums up, directories excluded).
func Apply(ctx context.Context, dir string, r io.Reader, opts ApplyOptions) (int64, error) {
	root, err := pathsafe.OpenRoot(dir)
	if err != nil {
		return 0, err
	}
	defer root.Close()
	a := &applier{root: root, opts: opts, created: map[string]bool{}}
	tr := tar.NewReader(r)
	var written int64
	for {
		if err := ctx.Err(); err != nil {
			return written, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return written, fmt.Errorf("read layer: %w", err)
		}
		n, err := a.entry(hdr, tr)
		written += n
		if err == nil && hdr.Typeflag == tar.TypeSymlink {
			written += int64(len(hdr.Linkname))
		}
		if err != nil {
			return written, fmt.Errorf("layer entry %q: %w", hdr.Name, err)
		}
	}
	// Directory times last: creating their entries changed them.
	for i := len(a.dirTimes) - 1; i >= 0; i-- {
		d := a.dirTimes[i]
		a.setTimes(d.rel, d.hdr)
	}
	return written, nil
}

type dirTime struct {
	rel string
	hdr *tar.Header
}

type applier struct {
	root     *os.File
	opts     ApplyOptions
	created  map[string]bool // entries this layer made, which an opaque marker must keep
	dirTimes []dirTime
}

// cleanName turns an entry name into a path relative to the destination, refusing names that
// climb out of it ("../x"); a leading "/" is dropped, as Docker does.
func cleanName(name string) (string, error) {
	if strings.ContainsRune(name, 0) {
		return "", errors.New("name holds a NUL byte")
	}
	rel := path.Clean(strings.TrimLeft(name, "/"))
	if rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("name escapes the destination")
	}
	return rel, nil
}

func (a *applier) entry(hdr *tar.Header, content io.Reader) (int64, error) {
	rel, err := cleanName(hdr.Name)
	if err != nil {
		return 0, err
	}
	if rel == "." {
		return 0, nil // the destination itself
	}
	dirRel, base := path.Split(rel)
	if base == "." || base == ".." || base == "" {
		return 0, errors.New("invalid name")
	}
	parent, err := pathsafe.MkdirAllOpen(a.root, "/"+dirRel, 0o755)
	if err != nil {
		return 0, err
	}
	defer parent.Close()
	pfd := int(parent.Fd())

	if strings.HasPrefix(base, whiteoutPrefix) && a.opts.Whiteouts != WhiteoutNone {
		return 0, a.whiteout(pfd, dirRel, base)
	}
	a.created[rel] = true

	switch hdr.Typeflag {
	case tar.TypeDir:
		var st unix.Stat_t
		if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			if err := removeAt(pfd, base); err != nil {
				return 0, err
			}
		}
		if err := unix.Mkdirat(pfd, base, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
			return 0, err
		}
		a.dirTimes = append(a.dirTimes, dirTime{rel, hdr})
	//lint:ignore SA1019 TypeRegA still appears in old layers
	case tar.TypeReg, tar.TypeRegA:
		if hdr.Size < 0 {
			return 0, errors.New("negative size")
		}
		if err := replaceable(pfd, base); err != nil {
			return 0, err
		}
		fd, err := unix.Openat(pfd, base, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return 0, err
		}
		f := os.NewFile(uintptr(fd), base)
		n, err := io.Copy(f, io.LimitReader(content, hdr.Size))
		if err == nil && n != hdr.Size {
			err = io.ErrUnexpectedEOF
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return n, err
		}
		return n, a.attrs(pfd, base, hdr)
	case tar.TypeSymlink:
		if err := replaceable(pfd, base); err != nil {
			return 0, err
		}
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return 0, err
		}
	case tar.TypeLink:
		target, err := cleanName(hdr.Linkname)
		if err != nil {
			return 0, fmt.Errorf("hard link target %q: %w", hdr.Linkname, err)
		}
		tdir, tbase := path.Split(target)
		tparent, err := pathsafe.MkdirAllOpen(a.root, "/"+tdir, 0o755)
		if err != nil {
			return 0, err
		}
		defer tparent.Close()
		if err := replaceable(pfd, base); err != nil {
			return 0, err
		}
		// Link the entry itself (a symlink stays a symlink), found relative to its own parent.
		if err := unix.Linkat(int(tparent.Fd()), tbase, pfd, base, 0); err != nil {
			return 0, fmt.Errorf("hard link to %q: %w", hdr.Linkname, err)
		}
		return 0, nil // a link shares its target's attributes
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		mode := uint32(unix.S_IFIFO)
		switch hdr.Typeflag {
		case tar.TypeChar:
			mode = unix.S_IFCHR
		case tar.TypeBlock:
			mode = unix.S_IFBLK
		}
		if err := replaceable(pfd, base); err != nil {
			return 0, err
		}
		dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
		if err := unix.Mknodat(pfd, base, mode|0o600, int(dev)); err != nil {
			return 0, err
		}
	case tar.TypeXGlobalHeader, tar.TypeXHeader, tar.TypeGNULongName, tar.TypeGNULongLink:
		return 0, nil // consumed by archive/tar
	default:
		return 0, fmt.Errorf("unsupported entry type %q", hdr.Typeflag)
	}
	if hdr.Typeflag == tar.TypeDir {
		return 0, a.ownership(pfd, base, hdr)
	}
	return 0, a.attrs(pfd, base, hdr)
}

// replaceable removes what is at base unless it is a directory: a file entry replaces a lower
// file or symlink, never writing through it.
func replaceable(pfd int, base string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return fmt.Errorf("a directory is in the way")
	}
	return unix.Unlinkat(pfd, base, 0)
}

// removeAt deletes base below pfd, recursively for a directory, without following symlinks.
func removeAt(pfd int, base string) error {
	err := unix.Unlinkat(pfd, base, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EPERM) {
		return err
	}
	fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	d := os.NewFile(uintptr(fd), base)
	names, err := d.Readdirnames(-1)
	if err == nil {
		for _, n := range names {
			if err = removeAt(fd, n); err != nil {
				break
			}
		}
	}
	d.Close()
	if err != nil {
		return err
	}
	return unix.Unlinkat(pfd, base, unix.AT_REMOVEDIR)
}

func (a *applier) whiteout(pfd int, dirRel, base string) error {
	if base == whiteoutOpaque {
		if a.opts.Whiteouts == WhiteoutOverlay {
			return unix.Fsetxattr(pfd, "trusted.overlay.opaque", []byte("y"), 0)
		}
		// Keep what this layer made in the directory; drop everything from below.
		d := os.NewFile(uintptr(pfd), dirRel)
		names, err := d.Readdirnames(-1)
		if err != nil {
			return err
		}
		for _, n := range names {
			if !a.created[path.Join(strings.TrimSuffix(dirRel, "/"), n)] {
				if err := removeAt(pfd, n); err != nil {
					return err
				}
			}
		}
		return nil
	}
	name := strings.TrimPrefix(base, whiteoutPrefix)
	if name == "" || name == "." || name == ".." || strings.Contains(name, "/") {
		return fmt.Errorf("invalid whiteout %q", base)
	}
	if err := removeAt(pfd, name); err != nil {
		return err
	}
	if a.opts.Whiteouts == WhiteoutOverlay {
		return unix.Mknodat(pfd, name, unix.S_IFCHR, 0)
	}
	return nil
}

// ownership sets owner and mode of an entry (mode after owner: chown clears setuid bits).
func (a *applier) ownership(pfd int, base string, hdr *tar.Header) error {
	uid, gid := hdr.Uid, hdr.Gid
	if o := a.opts.Owner; o != nil {
		uid, gid = o.UID, o.GID
	}
	if err := unix.Fchownat(pfd, base, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeSymlink {
		return nil // symlinks have no mode of their own
	}
	return unix.Fchmodat(pfd, base, uint32(os.FileMode(hdr.Mode).Perm())|modeBits(hdr.Mode), 0)
}

func modeBits(m int64) uint32 {
	var out uint32
	if m&0o4000 != 0 {
		out |= unix.S_ISUID
	}
	if m&0o2000 != 0 {
		out |= unix.S_ISGID
	}
	if m&0o1000 != 0 {
		out |= unix.S_ISVTX
	}
	return out
}

// attrs sets owner, mode, extended attributes and times of a non-directory entry.
func (a *applier) attrs(pfd int, base string, hdr *tar.Header) error {
	if err := a.ownership(pfd, base, hdr); err != nil {
		return err
	}
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		// Only what a container legitimately carries: file capabilities and user attributes.
		// trusted.* (overlayfs' own) must never come from an image.
		if !ok || !(name == "security.capability" || strings.HasPrefix(name, "user.")) {
			continue
		}
		if err := unix.Lsetxattr(fdPath(pfd, base), name, []byte(v), 0); err != nil && !errors.Is(err, unix.ENOTSUP) {
			return fmt.Errorf("xattr %s: %w", name, err)
		}
	}
	return utimes(pfd, base, hdr)
}

func (a *applier) setTimes(rel string, hdr *tar.Header) {
	dirRel, base := path.Split(rel)
	parent, err := pathsafe.Open(a.root, "/"+dirRel)
	if err != nil {
		return
	}
	defer parent.Close()
	utimes(int(parent.Fd()), base, hdr)
}

func utimes(pfd int, base string, hdr *tar.Header) error {
	at := hdr.AccessTime
	if at.IsZero() {
		at = hdr.ModTime
	}
	ts := []unix.Timespec{unix.NsecToTimespec(at.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
	if hdr.ModTime.IsZero() {
		now := unix.NsecToTimespec(time.Now().UnixNano())
		ts = []unix.Timespec{now, now}
	}
	return unix.UtimesNanoAt(pfd, base, ts, unix.AT_SYMLINK_NOFOLLOW)
}

// fdPath names base below the directory fd pfd for the path-only xattr calls.
func fdPath(pfd int, base string) string {
	return filepath.Join(fmt.Sprintf("/proc/self/fd/%d", pfd), base)
}
