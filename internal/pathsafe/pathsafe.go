// Package pathsafe is the one place where berth resolves paths that a container, an image or a
// user controls. Every lookup walks inside a root handle (openat2 RESOLVE_IN_ROOT where the kernel
// has it, a careful fd walk otherwise: cyphar/filepath-securejoin's pathrs-lite), so a symlink can
// never lead out of the root, and callers act on the returned fd, never on a re-resolved string.
package pathsafe

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// OpenRoot opens a directory to serve as the root of later lookups.
func OpenRoot(dir string) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open root", Path: dir, Err: err}
	}
	return os.NewFile(uintptr(fd), dir), nil
}

// Open returns an O_PATH handle to path resolved inside root. The last component may be a
// symlink; it is followed inside the root too.
func Open(root *os.File, path string) (*os.File, error) {
	return pathrs.OpenatInRoot(root, path)
}

// MkdirAll creates path and its parents inside root and returns an O_PATH handle to it.
func MkdirAll(root *os.File, path string, mode os.FileMode) (*os.File, error) {
	return pathrs.MkdirAllHandle(root, path, mode)
}

// Reopen turns an O_PATH handle into a real open file with flags, without re-resolving a path.
func Reopen(h *os.File, flags int) (*os.File, error) {
	return pathrs.Reopen(h, flags)
}

// CreateFile makes sure path exists inside root as a regular file (creating parent directories and
// an empty file as needed, never following a final symlink) and returns an O_PATH handle to it.
// It is how bind-mount targets for files are made.
func CreateFile(root *os.File, path string, mode os.FileMode) (*os.File, error) {
	if h, err := Open(root, path); err == nil {
		return h, nil
	}
	parent, err := MkdirAll(root, filepath.Dir(filepath.Join("/", path)), 0o755)
	if err != nil {
		return nil, err
	}
	defer parent.Close()
	base := filepath.Base(path)
	if base == "/" || base == "." || base == ".." {
		return nil, fmt.Errorf("invalid file path %q", path)
	}
	dir, err := Reopen(parent, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	fd, err := unix.Openat(int(dir.Fd()), base, unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_WRONLY|unix.O_CLOEXEC, uint32(mode.Perm()))
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, &os.PathError{Op: "create", Path: path, Err: err}
	}
	if err == nil {
		unix.Close(fd)
	}
	return pathrs.OpenatInRoot(root, path)
}

// ProcPath names an open fd through /proc/thread-self, so that syscalls taking a path (mount,
// chmod) act on exactly that file.
func ProcPath(f *os.File) string {
	return "/proc/thread-self/fd/" + strconv.Itoa(int(f.Fd()))
}
