package libct

import (
	"github.com/berthproject/berth/internal/runtime/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// File descriptors the runtime hands to the init process, in this order after stdio.
const (
	initSyncFd = 3 // socket to the runtime: bootstrap bytes, then JSON messages
)

// initConfig is everything the init process needs, sent as JSON once its namespaces exist.
type initConfig struct {
	Mode    string         `json:"mode"` // "create" or "exec"
	Process *specs.Process `json:"process"`
	// Spec and Rootfs are set for "create": the init builds the root filesystem.
	Spec    *specs.Spec      `json:"spec,omitempty"`
	Rootfs  string           `json:"rootfs,omitempty"`
	NoPivot bool             `json:"no_pivot,omitempty"`
	Seccomp *seccomp.Program `json:"seccomp,omitempty"`
	// State is handed to createContainer and startContainer hooks on their stdin.
	State OCIState `json:"state"`
	// FifoFd (create) is an O_PATH handle on exec.fifo; ConsoleFd a connected console socket.
	FifoFd    int `json:"fifo_fd,omitempty"`
	ConsoleFd int `json:"console_fd,omitempty"`
	// UTSNS and MountNS: the container has a UTS / mount namespace of its own (new or joined), so
	// the init may set the hostname and build the root with pivot_root; without a mount namespace
	// the mounts land in the caller's namespace and the init only chroots, as runc and crun do.
	UTSNS   bool `json:"uts_ns,omitempty"`
	MountNS bool `json:"mount_ns,omitempty"`
	UserNS  bool `json:"user_ns,omitempty"`
}

// syncMsg is one JSON message on the sync socket, in either direction.
type syncMsg struct {
	Type    string `json:"type"` // "hooks", "hooks-done", "ready", "error"
	Message string `json:"message,omitempty"`
	Pid     int    `json:"pid,omitempty"` // with "hooks-done": the container pid as the host sees it
}
