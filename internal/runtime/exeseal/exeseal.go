// Package exeseal gives the runtime a sealed, read-only copy of its own binary to re-execute as a
// container's init. A process inside the container can reach its init's executable through
// /proc/<pid>/exe; if that were the host's berth-runtime file it could overwrite it
// (CVE-2019-5736). A sealed memfd cannot be written, grown or shrunk by anyone.
package exeseal

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

const seals = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE

// Self returns an fd holding a sealed copy of the running executable. Exec it through
// /proc/self/fd/N (the fd has no close-on-exec until exec is done by the caller's fork).
func Self() (*os.File, error) {
	src, err := os.Open("/proc/self/exe")
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
