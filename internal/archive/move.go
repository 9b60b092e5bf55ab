package archive

import (
	"errors"
	"fmt"
	"os"
	"path"

	"golang.org/x/sys/unix"
)

// MoveInto moves every entry of the directory src into the directory dst (both open directory
// fds on one filesystem), one rename per entry, so each appears whole: a file replaces a file in
// one step, a directory is merged into one that exists (which then takes the moved one's owner,
// mode and times, as extracting over it would), and an entry of the other kind in the way is
// swapped out (RENAME_EXCHANGE) and removed afterwards — unless noOverwriteDirNonDir, Docker's
// option refusing that. Nothing is followed: both sides are walked by fd with O_NOFOLLOW.
// Names in errors are relative to dst, under prefix.
func MoveInto(src, dst int, prefix string, noOverwriteDirNonDir bool) error {
	// Listed through a new fd: os.File owns (and closes) the fd it is given.
	fd, err := unix.Openat(src, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	d := os.NewFile(uintptr(fd), prefix)
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return err
	}
	for _, name := range names {
		if err := moveEntry(src, dst, name, path.Join(prefix, name), noOverwriteDirNonDir); err != nil {
			return err
		}
	}
	return nil
}

func moveEntry(src, dst int, name, rel string, noOverwriteDirNonDir bool) error {
	var sst, dstSt unix.Stat_t
	if err := unix.Fstatat(src, name, &sst, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	err := unix.Fstatat(dst, name, &dstSt, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return unix.Renameat(src, name, dst, name)
	}
	if err != nil {
		return err
	}
	srcDir, dstDir := sst.Mode&unix.S_IFMT == unix.S_IFDIR, dstSt.Mode&unix.S_IFMT == unix.S_IFDIR
	switch {
	case srcDir && dstDir:
		return mergeDir(src, dst, name, rel, &sst, noOverwriteDirNonDir)
	case !srcDir && !dstDir:
		return unix.Renameat(src, name, dst, name)
	case noOverwriteDirNonDir && dstDir:
		return fmt.Errorf("cannot overwrite directory %q with non-directory %q", "/"+rel, rel)
	case noOverwriteDirNonDir:
		return fmt.Errorf("cannot overwrite non-directory %q with directory %q", "/"+rel, rel)
	}
	// A directory for a file or the reverse: swapped in one step, the old one removed after.
	if err := unix.Renameat2(src, name, dst, name, unix.RENAME_EXCHANGE); err != nil {
		return err
	}
	return removeAt(src, name)
}

// mergeDir moves the content of directory name of src into the existing directory name of dst.
func mergeDir(src, dst int, name, rel string, st *unix.Stat_t, noOverwriteDirNonDir bool) error {
	open := func(dirfd int) (int, error) {
		return unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	}
	s, err := open(src)
	if err != nil {
		return err
	}
	defer unix.Close(s)
	d, err := open(dst)
	if err != nil {
		return err
	}
	defer unix.Close(d)
	if err := MoveInto(s, d, rel, noOverwriteDirNonDir); err != nil {
		return err
	}
	// Owner before mode (chown clears setuid bits); times last.
	if err := unix.Fchown(d, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	if err := unix.Fchmod(d, st.Mode&0o7777); err != nil {
		return err
	}
	return unix.UtimesNanoAt(dst, name, []unix.Timespec{st.Atim, st.Mtim}, unix.AT_SYMLINK_NOFOLLOW)
}

// RemoveAt deletes name below the directory fd dirfd, recursively, without following symlinks.
func RemoveAt(dirfd int, name string) error { return removeAt(dirfd, name) }
