// Package filter holds a compiled seccomp program and loads it. It is what a container's init
// needs of seccomp, without the compiler (libseccomp) that package seccomp links.
package filter

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Without no_new_privs, loading needs CAP_SYS_ADMIN: the init calls it before dropping capabilities.
// Program is a compiled filter: sock_filter instructions in native byte order, and the
// flags for seccomp(2).
type Program struct {
	BPF   []byte `json:"bpf"`
	Flags uint   `json:"flags,omitempty"`
}

// Load installs p on the calling thread (with TSYNC in its flags, on all threads).
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
