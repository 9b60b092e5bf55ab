// Package exeseal gives the runtime a sealed, read-only copy of its own binary to re-execute as a
// container's init. A process inside the container can reach its init's executable through
// /proc/<pid>/exe; if that were the host's berth-runtime file it could overwrite it
// (CVE-2019-5736). A sealed memfd cannot be written, grown or shrunk by anyone.
package exeseal

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

const seals = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE

// Open returns an fd to execute (through /proc/self/fd/N) that is the executable at path but
// cannot be written through: a read-only overlayfs view of it (no copy, runc's current approach),
// or, where overlayfs cannot be used, a sealed memfd copy.
func Open(path string) (*os.File, error) {
	if f, err := overlayView(path); err == nil {
		return f, nil
	}
	return sealedCopy(path)
}

// overlayView mounts, detached from every mount namespace, a read-only overlayfs whose lower
// layers are the executable's directory and an empty tmpfs, and opens the executable in it.
// Nothing is attached anywhere, so nothing needs unmounting: the mount lives as long as the fd.
func overlayView(exe string) (*os.File, error) {
	dir, base := filepath.Split(exe)
	empty, err := detachedMount("tmpfs", nil, unix.MOUNT_ATTR_RDONLY)
	if err != nil {
		return nil, err
	}
	defer unix.Close(empty)
	lower := strings.TrimSuffix(dir, "/") + ":/proc/self/fd/" + strconv.Itoa(empty)
	if strings.ContainsAny(dir, ":,") {
		return nil, errors.New("executable path holds overlayfs separators")
	}
	mnt, err := detachedMount("overlay", map[string]string{"lowerdir": lower}, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOSUID)
	if err != nil {
		return nil, err
	}
	defer unix.Close(mnt)
	fd, err := unix.Openat(mnt, base, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), "overlay:"+exe), nil
}

func detachedMount(fstype string, opts map[string]string, attrs int) (int, error) {
	fsfd, err := unix.Fsopen(fstype, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, err
	}
	defer unix.Close(fsfd)
	for k, v := range opts {
		if err := unix.FsconfigSetString(fsfd, k, v); err != nil {
			return -1, fmt.Errorf("fsconfig %s: %w", k, err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, err
	}
	return unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, attrs)
}

// Copy is the sealed memfd copy alone, for a caller whose execution of the overlayfs view
// failed.
func Copy(exe string) (*os.File, error) { return sealedCopy(exe) }

// sealedCopy copies the executable into a memfd and seals it against any change.
func sealedCopy(exe string) (*os.File, error) {
	src, err := os.Open(exe)
	if err != nil {
		return nil, fmt.Errorf("open own executable: %w", err)
	}
	defer src.Close()
	fd, err := unix.MemfdCreate("berth-runtime", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|unix.MFD_EXEC)
	if err != nil {
		// Kernels before 6.3 do not know MFD_EXEC.
		fd, err = unix.MemfdCreate("berth-runtime", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	}
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	mem := os.NewFile(uintptr(fd), "memfd:berth-runtime")
	st, err := src.Stat()
	if err != nil {
		mem.Close()
		return nil, err
	}
	if _, err := io.Copy(mem, src); err != nil { // copy_file_range/sendfile under the hood
		mem.Close()
		return nil, fmt.Errorf("copy own executable: %w", err)
	}
	if fi, err := mem.Stat(); err != nil || fi.Size() != st.Size() {
		mem.Close()
		return nil, fmt.Errorf("copy own executable: short copy")
	}
	if _, err := unix.FcntlInt(mem.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		mem.Close()
		return nil, fmt.Errorf("seal copy of own executable: %w", err)
	}
	return mem, nil
}

// IsSealed reports whether f is a memfd carrying all of Self's seals.
func IsSealed(f *os.File) bool {
	got, err := unix.FcntlInt(f.Fd(), unix.F_GET_SEALS, 0)
	return err == nil && got&seals == seals
}
