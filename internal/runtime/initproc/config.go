// Package initproc is the container side of berth-runtime: the Go half of a container's init,
// which runs after nsenter's constructor has put it into its namespaces. It builds the root
// filesystem, applies the process attributes and execs the user's process. It is kept light
// (no cgroup library, no libseccomp, no CLI) because it runs on every container start, in its
// own small binary, berth-runtime-init.
package initproc

import (
	"github.com/berthproject/berth/internal/runtime/seccomp/filter"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"time"
)

// File descriptors the runtime hands to the init process, in this order after stdio.
const (
	SyncFd = 3 // socket to the runtime: bootstrap bytes, then JSON messages
)

// Config is everything the init process needs, sent as JSON once its namespaces exist.
type Config struct {
	Mode    string         `json:"mode"` // "create" or "exec"
	Process *specs.Process `json:"process"`
	// Spec and Rootfs are set for "create": the init builds the root filesystem.
	Spec    *specs.Spec     `json:"spec,omitempty"`
	Rootfs  string          `json:"rootfs,omitempty"`
	NoPivot bool            `json:"no_pivot,omitempty"`
	Seccomp *filter.Program `json:"seccomp,omitempty"`
	// State is handed to createContainer and startContainer hooks on their stdin.
	State OCIState `json:"state"`
	// FifoFd (create) is an O_PATH handle on exec.fifo; ConsoleFd a connected console socket.
	FifoFd    int `json:"fifo_fd,omitempty"`
	ConsoleFd int `json:"console_fd,omitempty"`
	// UTSNS and MountNS: the container has a UTS / mount namespace of its own (new or joined), so
	// the init may set the hostname and build the root with pivot_root; without a mount namespace
	// the mounts land in the caller's namespace and the init only chroots, as runc and crun do.
	UTSNS bool `json:"uts_ns,omitempty"`
	// UnshareCgroup: create the cgroup namespace now that the runtime has put the process in its
	// cgroup (the namespace's root is the cgroup the process is in when it is made).
	UnshareCgroup bool `json:"unshare_cgroup,omitempty"`
	MountNS       bool `json:"mount_ns,omitempty"`
	UserNS        bool `json:"user_ns,omitempty"`
}

// SyncMsg is one JSON message on the sync socket, in either direction.
type SyncMsg struct {
	Type    string `json:"type"` // "hooks", "hooks-done", "ready", "error"
	Message string `json:"message,omitempty"`
	Pid     int    `json:"pid,omitempty"` // with "hooks-done": the container pid as the host sees it
}

// OCIState is the state the OCI spec defines, plus runc's extra fields that tools read.
type OCIState struct {
	specs.State
	Rootfs  string    `json:"rootfs"`
	Created time.Time `json:"created"`
	Owner   string    `json:"owner"`
}

// HasNewNS reports whether the spec asks for a new namespace of type t (no path: create one).
func HasNewNS(s *specs.Spec, t specs.LinuxNamespaceType) bool {
	if s.Linux == nil {
		return false
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == t && ns.Path == "" {
			return true
		}
	}
	return false
}

// HasNS reports whether the spec lists a namespace of type t, new or joined.
func HasNS(s *specs.Spec, t specs.LinuxNamespaceType) bool {
	if s.Linux == nil {
		return false
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == t {
			return true
		}
	}
	return false
}

// RlimitNames maps OCI rlimit types to their numbers.
var RlimitNames = map[string]int{
	"RLIMIT_CPU": unix.RLIMIT_CPU, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_DATA": unix.RLIMIT_DATA,
	"RLIMIT_STACK": unix.RLIMIT_STACK, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_RSS": unix.RLIMIT_RSS,
	"RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK,
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS, "RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE, "RLIMIT_NICE": unix.RLIMIT_NICE, "RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO,
	"RLIMIT_RTTIME": unix.RLIMIT_RTTIME,
}

// PropagationFlags maps rootfsPropagation and mount propagation options to mount flags.
var PropagationFlags = map[string]uintptr{
	"":            unix.MS_SLAVE | unix.MS_REC,
	"private":     unix.MS_PRIVATE,
	"rprivate":    unix.MS_PRIVATE | unix.MS_REC,
	"shared":      unix.MS_SHARED,
	"rshared":     unix.MS_SHARED | unix.MS_REC,
	"slave":       unix.MS_SLAVE,
	"rslave":      unix.MS_SLAVE | unix.MS_REC,
	"unbindable":  unix.MS_UNBINDABLE,
	"runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}
