package container

import ctypes "github.com/moby/moby/api/types/container"

// MountPoint is a volume or bind mount of a container as resolved at create: volumes named
// (anonymous ones given their generated name), --volumes-from expanded. Tmpfs mounts are not
// recorded here; they come from the HostConfig at each start.
type MountPoint struct {
	ctypes.MountPoint
	// CopyData: a new or empty volume is filled from the image's content at the destination.
	CopyData bool `json:"copy_data,omitempty"`
	// CreateSource: a -v bind whose missing host directory is made at start.
	CreateSource bool `json:"create_source,omitempty"`
	// Anonymous: a volume made for this container (removed with it by rm -v).
	Anonymous bool `json:"anonymous,omitempty"`
	// Subpath: a volume mounted from this path inside it (volume-subpath).
	Subpath string `json:"subpath,omitempty"`
	// NonRecursive: a bind of its source alone, not the mounts below (bind-recursive=disabled).
	NonRecursive bool `json:"non_recursive,omitempty"`
	// ReadOnlyNonRecursive: the mounts below a read-only bind stay writable
	// (bind-recursive=writable); ReadOnlyForceRecursive: they must be made read-only
	// (bind-recursive=readonly). Neither: read-only too where the propagation allows it.
	ReadOnlyNonRecursive   bool `json:"read_only_non_recursive,omitempty"`
	ReadOnlyForceRecursive bool `json:"read_only_force_recursive,omitempty"`
}
