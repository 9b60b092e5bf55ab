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
	"strings"
	"sync"

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

// openat2 is used directly where the kernel has it (5.6+): one syscall per lookup, against
// pathrs-lite's careful but much longer emulation, which remains the fallback.
var haveOpenat2 = sync.OnceValue(func() bool {
	fd, err := unix.Openat2(unix.AT_FDCWD, "/", &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT})
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
})

// inRoot resolves path below root with openat2(RESOLVE_IN_ROOT): ".." and absolute symlinks stop at
// root, and magic links (/proc/<pid>/fd/...) are refused.
func inRoot(root *os.File, path string, flags uint64) (*os.File, error) {
	for {
		fd, err := unix.Openat2(int(root.Fd()), path, &unix.OpenHow{
			Flags:   flags | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
		})
		if err == unix.EAGAIN || err == unix.EINTR {
			continue // a concurrent rename inside the root: the kernel asks for a retry
		}
		if err != nil {
			return nil, &os.PathError{Op: "openat2", Path: path, Err: err}
		}
		return os.NewFile(uintptr(fd), filepath.Join(root.Name(), path)), nil
	}
}

// Open returns an O_PATH handle to path resolved inside root. The last component may be a
// symlink; it is followed inside the root too.
func Open(root *os.File, path string) (*os.File, error) {
	if haveOpenat2() {
		return inRoot(root, path, unix.O_PATH)
	}
	return pathrs.OpenatInRoot(root, path)
}

// MkdirAll creates path and its parents inside root and returns an O_PATH handle to it.
func MkdirAll(root *os.File, path string, mode os.FileMode) (*os.File, error) {
	if !haveOpenat2() {
		return pathrs.MkdirAllHandle(root, path, mode)
	}
	budget := 40 // symlinks followed, as the kernel's MAXSYMLINKS
	return mkdirAll(root, path, mode, &budget)
}

// mkdirAll walks from the root, resolving each prefix inside it and creating what is missing
// relative to the handle of its (already resolved) parent, so no step can be redirected outside.
// A dangling symlink on the way has its target created, inside the root, as the kernel would
// resolve it.
func mkdirAll(root *os.File, path string, mode os.FileMode, budget *int) (*os.File, error) {
	if h, err := inRoot(root, path, unix.O_PATH|unix.O_DIRECTORY); err == nil {
		return h, nil
	}
	parts := strings.Split(filepath.Clean("/"+path), "/")[1:]
	cur, err := inRoot(root, "/", unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	for i, part := range parts {
		if part == "" {
			continue
		}
		prefix := "/" + strings.Join(parts[:i+1], "/")
		next, err := inRoot(root, prefix, unix.O_PATH|unix.O_DIRECTORY)
		if errors.Is(err, unix.ENOENT) {
			err = unix.Mkdirat(int(cur.Fd()), part, uint32(mode.Perm()))
			if errors.Is(err, unix.EEXIST) {
				// Something is there but did not resolve to a directory: a dangling symlink.
				target, lerr := readlinkat(cur, part)
				if lerr != nil {
					cur.Close()
					return nil, &os.PathError{Op: "mkdir", Path: prefix, Err: unix.ENOTDIR}
				}
				if *budget--; *budget < 0 {
					cur.Close()
					return nil, &os.PathError{Op: "mkdir", Path: prefix, Err: unix.ELOOP}
				}
				if !filepath.IsAbs(target) {
					target = filepath.Join(filepath.Dir(prefix), target)
				}
				var h *os.File
				if h, err = mkdirAll(root, target, mode, budget); err == nil {
					h.Close()
				}
			}
			if err != nil {
				cur.Close()
				return nil, &os.PathError{Op: "mkdir", Path: prefix, Err: err}
			}
			next, err = inRoot(root, prefix, unix.O_PATH|unix.O_DIRECTORY)
		}
		cur.Close()
		if err != nil {
			return nil, err
		}
		cur = next
	}
	return cur, nil
}

func readlinkat(dir *os.File, name string) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(int(dir.Fd()), name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// Reopen turns an O_PATH handle into a real open file with flags, without re-resolving a path.
func Reopen(h *os.File, flags int) (*os.File, error) {
	if flags&unix.O_DIRECTORY != 0 {
		// A directory handle can be reopened through "." relative to itself, without procfs.
		fd, err := unix.Openat(int(h.Fd()), ".", flags|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, &os.PathError{Op: "reopen", Path: h.Name(), Err: err}
		}
		return os.NewFile(uintptr(fd), h.Name()), nil
	}
	return pathrs.Reopen(h, flags)
}

// MkdirAllOpen is MkdirAll returning the directory opened for reading, ready to serve as the
// dirfd of *at calls (mknodat, symlinkat, openat) that create entries in it.
func MkdirAllOpen(root *os.File, path string, mode os.FileMode) (*os.File, error) {
	h, err := MkdirAll(root, path, mode)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	return Reopen(h, unix.O_RDONLY|unix.O_DIRECTORY)
}

// CreateFile makes sure path exists inside root as a regular file (creating parent directories and
// an empty file as needed, never following a final symlink) and returns an O_PATH handle to it.
// It is how bind-mount targets for files are made.
func CreateFile(root *os.File, path string, mode os.FileMode) (*os.File, error) {
	if h, err := Open(root, path); err == nil {
		return h, nil
	}
	// Create the parent, then the file relative to the parent's handle, never following a
	// final symlink; then resolve it again inside the root.
	base := filepath.Base(path)
	if base == "/" || base == "." || base == ".." {
		return nil, fmt.Errorf("invalid file path %q", path)
	}
	dir, err := MkdirAllOpen(root, filepath.Dir(filepath.Join("/", path)), 0o755)
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
	return Open(root, path)
}

// ProcPath names an open fd through /proc/thread-self, so that syscalls taking a path (mount,
// chmod) act on exactly that file.
func ProcPath(f *os.File) string {
	return "/proc/thread-self/fd/" + strconv.Itoa(int(f.Fd()))
}

// HaveOpenat2 reports whether the kernel resolves paths with openat2 (Linux 5.6+).
func HaveOpenat2() bool { return haveOpenat2() }
