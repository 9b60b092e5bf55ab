package seccomp

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Load installs a compiled program on the calling thread (and, with TSYNC, on all its threads).
// Without no_new_privs this needs CAP_SYS_ADMIN, so the init calls it before dropping capabilities.
func Load(p *Program) error {
	if p == nil {
		return nil
	}
	if len(p.BPF)%8 != 0 || len(p.BPF) == 0 {
		return fmt.Errorf("seccomp: malformed program of %d bytes", len(p.BPF))
	}
	prog := unix.SockFprog{Len: uint16(len(p.BPF) / 8), Filter: (*unix.SockFilter)(unsafe.Pointer(&p.BPF[0]))}
	_, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(p.Flags), uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(p)
	if errno != 0 {
		return fmt.Errorf("seccomp: load filter: %w", errno)
	}
	return nil
}
