package daemon

import (
	"errors"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/berthproject/berth/internal/errdefs"
	ctypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
)

// mountPoint is one of a container's user mounts (from -v binds or --mount), normalized as
// dockerd's mount parser leaves it.
type mountPoint struct {
	Type        mount.Type
	Source      string // host path (bind)
	Destination string
	Mode        string // the -v mode field as given ("ro", "z", ...); "" for --mount
	RW          bool
	Propagation mount.Propagation
	tmpfs       *mount.TmpfsOptions
	bindOpts    *mount.BindOptions
	// createSource: -v makes a missing host directory; --mount type=bind refuses it.
	createSource bool
	// Volumes (volumes.go): Name is "" for an anonymous volume; copyData unless nocopy.
	Name     string
	copyData bool
	volOpts  *mount.VolumeOptions
}

var propagationModes = map[mount.Propagation]bool{
	mount.PropagationPrivate: true, mount.PropagationRPrivate: true, mount.PropagationSlave: true,
	mount.PropagationRSlave: true, mount.PropagationShared: true, mount.PropagationRShared: true,
}

// validBindMode is dockerd's check of the -v mode field: at most one of each kind.
func validBindMode(mode string) bool {
	if mode == "" {
		return true
	}
	counts := map[string]int{}
	for _, o := range strings.Split(mode, ",") {
		switch {
		case o == "ro" || o == "rw":
			counts["rw"]++
		case o == "z" || o == "Z":
			counts["label"]++
		case propagationModes[mount.Propagation(o)]:
			counts["propagation"]++
		case o == "nocopy":
			counts["copy"]++
		case o == "consistent" || o == "cached" || o == "delegated":
			counts["consistency"]++
		default:
			return false
		}
	}
	for _, n := range counts {
		if n > 1 {
			return false
		}
	}
	return true
}

// parseBind reads one HostConfig.Binds entry (source:destination[:mode]) with dockerd's rules
// and messages.
func parseBind(raw string) (mountPoint, error) {
	invalidSpec := func() error { return errdefs.InvalidArgument(fmt.Errorf("invalid volume specification: '%s'", raw)) }
	arr := strings.SplitN(raw, ":", 4)
	if arr[0] == "" {
		return mountPoint{}, invalidSpec()
	}
	var src, dst, mode string
	switch len(arr) {
	case 1:
		return anonymousBind(raw)
	case 2:
		if validBindMode(arr[1]) {
			return mountPoint{}, invalidSpec() // a destination and a mode, no source
		}
		src, dst = arr[0], arr[1]
	case 3:
		src, dst, mode = arr[0], arr[1], arr[2]
	default:
		return mountPoint{}, invalidSpec()
	}
	if !validBindMode(mode) {
		return mountPoint{}, errdefs.InvalidArgument(fmt.Errorf("invalid mode: %s", mode))
	}
	if !path.IsAbs(src) {
		return namedBind(raw, src, dst, mode)
	}
	mp := mountPoint{Type: mount.TypeBind, Source: path.Clean(src), Mode: mode, RW: true,
		Propagation: mount.PropagationRPrivate, createSource: true}
	for _, o := range strings.Split(mode, ",") {
		if o == "ro" {
			mp.RW = false
		}
		if propagationModes[mount.Propagation(o)] {
			mp.Propagation = mount.Propagation(o)
		}
	}
	if err := checkTarget(mount.TypeBind, dst); err != nil {
		return mountPoint{}, errdefs.InvalidArgument(fmt.Errorf("invalid volume specification: '%s': %w", raw, err))
	}
	mp.Destination = path.Clean(dst)
	return mp, nil
}

// checkReadOnlyRecursion checks bind-recursive's read-only variants as dockerd does.
func checkReadOnlyRecursion(m mount.Mount) error {
	o := m.BindOptions
	switch {
	case o.ReadOnlyNonRecursive && o.ReadOnlyForceRecursive:
		return errors.New("must not set both ReadOnlyNonRecursive and ReadOnlyForceRecursive")
	case o.ReadOnlyNonRecursive && !m.ReadOnly:
		return errors.New("must not set ReadOnlyNonRecursive when ReadOnly is false")
	case o.ReadOnlyForceRecursive && !m.ReadOnly:
		return errors.New("must not set ReadOnlyForceRecursive when ReadOnly is false")
	case o.ReadOnlyForceRecursive && o.Propagation != "" && o.Propagation != mount.PropagationRPrivate:
		return fmt.Errorf("read-only mount cannot be made recursively read-only with propagation %s: it must be rprivate", o.Propagation)
	case o.NonRecursive && o.ReadOnlyForceRecursive:
		return errors.New("must not set both NonRecursive and ReadOnlyForceRecursive")
	}
	return nil
}

// mountConfigError is dockerd's wording for a bad --mount.
func mountConfigError(t mount.Type, err error) error {
	return fmt.Errorf("invalid mount config for type %q: %w", t, err)
}

func checkTarget(t mount.Type, dst string) error {
	if dst == "" {
		return mountConfigError(t, errors.New("field Target must not be empty"))
	}
	if path.Clean(dst) == "/" {
		return mountConfigError(t, errors.New("invalid specification: destination can't be '/'"))
	}
	if !path.IsAbs(dst) {
		return mountConfigError(t, fmt.Errorf("invalid mount path: '%s' mount path must be absolute", dst))
	}
	return nil
}

// parseMount checks one HostConfig.Mounts entry as dockerd's ValidateMountConfig does.
func parseMount(m mount.Mount, checkSource bool) (mountPoint, error) {
	invalid := func(err error) (mountPoint, error) { return mountPoint{}, errdefs.InvalidArgument(err) }
	extra := func(field string) (mountPoint, error) {
		return invalid(mountConfigError(m.Type, fmt.Errorf("field %s must not be specified", field)))
	}
	if err := checkTarget(m.Type, m.Target); err != nil {
		return invalid(err)
	}
	mp := mountPoint{Type: m.Type, Destination: path.Clean(m.Target), RW: !m.ReadOnly}
	switch m.Type {
	case mount.TypeBind:
		if m.Source == "" {
			return invalid(mountConfigError(m.Type, errors.New("field Source must not be empty")))
		}
		if o := m.BindOptions; o != nil && o.Propagation != "" && !propagationModes[o.Propagation] {
			return invalid(mountConfigError(m.Type, fmt.Errorf("invalid propagation mode: %s", o.Propagation)))
		}
		switch {
		case m.VolumeOptions != nil:
			return extra("VolumeOptions")
		case m.ImageOptions != nil:
			return extra("ImageOptions")
		case m.TmpfsOptions != nil:
			return extra("TmpfsOptions")
		}
		if !path.IsAbs(m.Source) {
			return invalid(mountConfigError(m.Type, fmt.Errorf("invalid mount path: '%s' mount path must be absolute", m.Source)))
		}
		create := m.BindOptions != nil && m.BindOptions.CreateMountpoint
		if _, err := os.Stat(m.Source); err != nil && checkSource {
			if !os.IsNotExist(err) {
				return invalid(mountConfigError(m.Type, err))
			}
			if !create {
				return invalid(mountConfigError(m.Type, fmt.Errorf("bind source path does not exist: %s", m.Source)))
			}
		}
		mp.Source, mp.createSource, mp.Propagation = path.Clean(m.Source), create, mount.PropagationRPrivate
		if o := m.BindOptions; o != nil {
			if o.Propagation != "" {
				mp.Propagation = o.Propagation
			}
			if err := checkReadOnlyRecursion(m); err != nil {
				return invalid(mountConfigError(m.Type, err))
			}
			mp.bindOpts = o
		}
	case mount.TypeTmpfs:
		switch {
		case m.BindOptions != nil:
			return extra("BindOptions")
		case m.VolumeOptions != nil:
			return extra("VolumeOptions")
		case m.ImageOptions != nil:
			return extra("ImageOptions")
		case m.Source != "":
			return extra("Source")
		}
		if m.TmpfsOptions != nil {
			for _, o := range m.TmpfsOptions.Options {
				if len(o) < 1 || len(o) > 2 {
					return invalid(mountConfigError(m.Type, errors.New("invalid option array length")))
				}
				if o[0] != "exec" && o[0] != "noexec" {
					return invalid(mountConfigError(m.Type, errors.New("invalid option: "+o[0])))
				}
			}
		}
		mp.tmpfs = m.TmpfsOptions
	case mount.TypeVolume:
		return parseVolumeMount(m, mp)
	default:
		return invalid(mountConfigError(m.Type, errors.New("mount type unknown")))
	}
	return mp, nil
}

// tmpfsData is dockerd's conversion of --mount tmpfs options to mount data (ro, mode, size).
func (mp mountPoint) tmpfsData() string {
	var opts []string
	if !mp.RW {
		opts = append(opts, "ro")
	}
	o := mp.tmpfs
	if o == nil {
		return strings.Join(opts, ",")
	}
	if o.Mode != 0 {
		opts = append(opts, fmt.Sprintf("mode=%o", o.Mode))
	}
	if o.SizeBytes != 0 {
		size, suffix := o.SizeBytes, ""
		for _, u := range []struct {
			suffix string
			div    int64
		}{{"g", 1 << 30}, {"m", 1 << 20}, {"k", 1 << 10}} {
			if size%u.div == 0 {
				size, suffix = size/u.div, u.suffix
				break
			}
		}
		opts = append(opts, fmt.Sprintf("size=%d%s", size, suffix))
	}
	for _, kv := range o.Options {
		opts = append(opts, strings.Join(kv, "="))
	}
	return strings.Join(opts, ",")
}

// containerMounts parses a HostConfig's Binds and Mounts; a destination given twice is refused.
// checkSource: a --mount bind's source must exist (at create and start, not for inspect).
func containerMounts(h *ctypes.HostConfig, checkSource bool) ([]mountPoint, error) {
	var out []mountPoint
	seen := map[string]bool{}
	add := func(mp mountPoint) error {
		if seen[mp.Destination] {
			return errdefs.InvalidArgument(fmt.Errorf("Duplicate mount point: %s", mp.Destination))
		}
		seen[mp.Destination] = true
		out = append(out, mp)
		return nil
	}
	for _, b := range h.Binds {
		mp, err := parseBind(b)
		if err != nil {
			return nil, err
		}
		if err := add(mp); err != nil {
			return nil, err
		}
	}
	for _, m := range h.Mounts {
		mp, err := parseMount(m, checkSource)
		if err != nil {
			return nil, err
		}
		if err := add(mp); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// inspectMounts is a container's .Mounts as docker inspect shows them (--tmpfs is not listed
// there, as in Docker), ordered by destination.
func inspectMounts(h *ctypes.HostConfig) []ctypes.MountPoint {
	out := []ctypes.MountPoint{}
	if h == nil {
		return out
	}
	mps, err := containerMounts(h, false)
	if err != nil {
		return out // refused at create: no record holds such a config
	}
	for _, mp := range mps {
		out = append(out, ctypes.MountPoint{Type: mp.Type, Source: mp.Source, Destination: mp.Destination,
			Mode: mp.Mode, RW: mp.RW, Propagation: mp.Propagation})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Destination < out[j].Destination })
	return out
}
