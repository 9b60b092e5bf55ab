package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berthproject/berth/internal/container"
	"github.com/berthproject/berth/internal/errdefs"
	"github.com/berthproject/berth/internal/filters"
	"github.com/berthproject/berth/internal/oci"
	"github.com/berthproject/berth/internal/pathsafe"
	"github.com/berthproject/berth/internal/volume"
	ctypes "github.com/moby/moby/api/types/container"
	evtypes "github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/mount"
	voltypes "github.com/moby/moby/api/types/volume"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// anonymousBind is a -v entry with only a destination: an anonymous volume.
func anonymousBind(raw string) (mountPoint, error) {
	if err := checkTarget(mount.TypeVolume, raw); err != nil {
		return mountPoint{}, errdefs.InvalidArgument(fmt.Errorf("invalid volume specification: '%s': %w", raw, err))
	}
	return mountPoint{Type: mount.TypeVolume, Destination: path.Clean(raw), RW: true, copyData: true}, nil
}

// namedBind is a -v name:/path[:mode] entry.
func namedBind(raw, name, dst, mode string) (mountPoint, error) {
	if err := volume.ValidateName(name); err != nil {
		return mountPoint{}, err
	}
	if err := checkTarget(mount.TypeVolume, dst); err != nil {
		return mountPoint{}, errdefs.InvalidArgument(fmt.Errorf("invalid volume specification: '%s': %w", raw, err))
	}
	mp := mountPoint{Type: mount.TypeVolume, Name: name, Destination: path.Clean(dst), Mode: mode, RW: true, copyData: true}
	for _, o := range strings.Split(mode, ",") {
		switch o {
		case "ro":
			mp.RW = false
		case "nocopy":
			mp.copyData = false
		}
		if propagationModes[mount.Propagation(o)] {
			return mountPoint{}, errdefs.InvalidArgument(fmt.Errorf("invalid volume specification: '%s'", raw))
		}
	}
	if mode == "" {
		mp.Mode = "z"
	}
	return mp, nil
}

// parseVolumeMount checks a --mount type=volume entry as dockerd does.
func parseVolumeMount(m mount.Mount, mp mountPoint) (mountPoint, error) {
	invalid := func(err error) (mountPoint, error) {
		return mountPoint{}, errdefs.InvalidArgument(mountConfigError(m.Type, err))
	}
	switch {
	case m.BindOptions != nil:
		return invalid(errors.New("field BindOptions must not be specified"))
	case m.TmpfsOptions != nil:
		return invalid(errors.New("field TmpfsOptions must not be specified"))
	case m.ImageOptions != nil:
		return invalid(errors.New("field ImageOptions must not be specified"))
	}
	if m.Source != "" {
		if err := volume.ValidateName(m.Source); err != nil {
			return mountPoint{}, err
		}
	}
	if o := m.VolumeOptions; o != nil && o.Subpath != "" {
		if m.Source == "" {
			return invalid(errors.New("must not set Subpath when using anonymous volumes"))
		}
		// Lexically inside the volume; symlinks are resolved inside it at start.
		if !filepath.IsLocal(o.Subpath) {
			return invalid(errors.New("subpath must be a relative path within the volume"))
		}
	}
	mp.Name, mp.copyData, mp.volOpts, mp.Mode = m.Source, true, m.VolumeOptions, "z"
	if m.VolumeOptions != nil && m.VolumeOptions.NoCopy {
		mp.copyData = false
	}
	return mp, nil
}

// resolveMounts turns a new container's Binds, Mounts, VolumesFrom and VOLUME declarations
// (its own and its image's) into its recorded mount points, creating the volumes it names. On an
// error, the anonymous volumes it made are removed again.
func (d *Daemon) resolveMounts(cfg *ctypes.Config, h *ctypes.HostConfig, imgVolumes map[string]struct{}) (out []container.MountPoint, err error) {
	var made []string
	defer func() {
		if err != nil {
			for _, name := range made {
				d.volumes.Remove(name)
			}
		}
	}()
	byDst := map[string]int{}
	set := func(mp container.MountPoint) {
		if i, ok := byDst[mp.Destination]; ok {
			out[i] = mp
			return
		}
		byDst[mp.Destination] = len(out)
		out = append(out, mp)
	}
	newVolume := func(name string, labels, opts map[string]string) (*volume.Volume, error) {
		anonymous := name == ""
		if anonymous {
			labels = map[string]string{volume.AnonymousLabel: ""}
		}
		v, created, err := d.volumes.Create(name, "", labels, opts)
		if err != nil {
			return nil, err
		}
		if created {
			made = append(made, v.Name)
			d.volumeEvent(v.Name, "create")
		}
		return v, nil
	}
	volumeMount := func(mp mountPoint) (container.MountPoint, error) {
		var labels, opts map[string]string
		if o := mp.volOpts; o != nil {
			labels = o.Labels
			if o.DriverConfig != nil {
				opts = o.DriverConfig.Options
			}
		}
		v, err := newVolume(mp.Name, labels, opts)
		if err != nil {
			return container.MountPoint{}, err
		}
		out := container.MountPoint{MountPoint: ctypes.MountPoint{Type: mount.TypeVolume, Name: v.Name,
			Source: d.volumes.Path(v.Name), Destination: mp.Destination, Driver: v.Driver, Mode: mp.Mode, RW: mp.RW},
			CopyData: mp.copyData, Anonymous: mp.Name == ""}
		if mp.volOpts != nil && mp.volOpts.Subpath != "" {
			// As Docker: a subpath is never filled from the image.
			out.Subpath, out.CopyData = path.Clean(mp.volOpts.Subpath), false
		}
		return out, nil
	}
	// --volumes-from first: the container's own mounts override them.
	for _, spec := range h.VolumesFrom {
		ref, mode, _ := strings.Cut(spec, ":")
		switch mode {
		case "", "ro", "rw", "z", "Z":
		default:
			return nil, errdefs.InvalidArgument(fmt.Errorf("invalid mode: %s", mode))
		}
		src, err := d.containers.Get(ref)
		if err != nil {
			return nil, err
		}
		for _, mp := range src.MountPoints {
			mp.Anonymous, mp.CopyData = false, false
			switch mode {
			case "ro":
				mp.RW = false
			case "rw":
				mp.RW = true
			}
			set(mp)
		}
	}
	mps, err := containerMounts(h, true)
	if err != nil {
		return nil, err
	}
	for _, mp := range mps {
		switch mp.Type {
		case mount.TypeBind:
			b := container.MountPoint{MountPoint: ctypes.MountPoint{Type: mount.TypeBind, Source: mp.Source,
				Destination: mp.Destination, Mode: mp.Mode, RW: mp.RW, Propagation: mp.Propagation}, CreateSource: mp.createSource}
			if o := mp.bindOpts; o != nil {
				b.NonRecursive, b.ReadOnlyNonRecursive, b.ReadOnlyForceRecursive = o.NonRecursive, o.ReadOnlyNonRecursive, o.ReadOnlyForceRecursive
			}
			set(b)
		case mount.TypeVolume:
			m, err := volumeMount(mp)
			if err != nil {
				return nil, err
			}
			set(m)
		case mount.TypeTmpfs:
			byDst[mp.Destination] = -1 // a tmpfs there: no anonymous volume
		}
	}
	for dst := range h.Tmpfs {
		byDst[path.Clean(dst)] = -1
	}
	var anon []string
	for _, vols := range []map[string]struct{}{imgVolumes, cfg.Volumes} {
		for dst := range vols {
			anon = append(anon, dst)
		}
	}
	sort.Strings(anon)
	for _, dst := range anon {
		if err := checkTarget(mount.TypeVolume, dst); err != nil {
			return nil, errdefs.InvalidArgument(err)
		}
		dst = path.Clean(dst)
		if _, ok := byDst[dst]; ok {
			continue
		}
		m, err := volumeMount(mountPoint{Type: mount.TypeVolume, Destination: dst, RW: true, copyData: true})
		if err != nil {
			return nil, err
		}
		m.Mode = ""
		set(m)
	}
	return out, nil
}

// volumeUsers lists the containers whose mount points name a volume.
func (d *Daemon) volumeUsers(name string) []string {
	var ids []string
	for _, c := range d.containers.List() {
		for _, mp := range c.MountPoints {
			if mp.Type == mount.TypeVolume && mp.Name == name {
				ids = append(ids, c.ID)
				break
			}
		}
	}
	return ids
}

// releaseVolumes runs after a container's removal: with rm -v (or --rm), its anonymous volumes
// go too, unless another container (--volumes-from) still uses them. Named volumes never do.
func (d *Daemon) releaseVolumes(c *container.Container, removeAnonymous bool) {
	if !removeAnonymous {
		return
	}
	for _, mp := range c.MountPoints {
		if mp.Type != mount.TypeVolume || !mp.Anonymous || len(d.volumeUsers(mp.Name)) > 0 {
			continue
		}
		if err := d.volumes.Remove(mp.Name); err != nil {
			d.log.Warn("remove anonymous volume", "volume", mp.Name, "err", err)
			continue
		}
		d.volumeEvent(mp.Name, "destroy")
	}
}

// volumeMounts are the OCI mounts of a container's recorded volumes and binds, made ready at
// start: volume data mounted (local driver options), empty volumes filled from the image's
// content, missing -v bind sources created.
func (d *Daemon) volumeMounts(c *container.Container, rootfs string) ([]specs.Mount, error) {
	var out []specs.Mount
	for i, mp := range c.MountPoints {
		opts := oci.BindOptions{ReadOnly: !mp.RW, Propagation: string(mp.Propagation), NonRecursive: mp.NonRecursive,
			RecursiveReadOnly: !mp.ReadOnlyNonRecursive}
		switch mp.Type {
		case mount.TypeBind:
			if mp.CreateSource {
				if err := os.MkdirAll(mp.Source, 0o755); err != nil {
					return nil, fmt.Errorf("error while creating mount source path '%s': %w", mp.Source, err)
				}
			}
			out = append(out, oci.Bind(mp.Source, mp.Destination, opts))
		case mount.TypeVolume:
			v, err := d.volumes.Get(mp.Name)
			if err != nil {
				return nil, err
			}
			src, err := d.volumes.Mount(v)
			if err != nil {
				return nil, err
			}
			if mp.CopyData {
				fill := func(dir string) error { return copyImageContent(rootfs, mp.Destination, dir) }
				if err := d.volumes.Fill(v, d.volumeMountedByRunning(v.Name, c.ID), fill); err != nil {
					return nil, fmt.Errorf("copy image content into volume %s: %w", mp.Name, err)
				}
			}
			if mp.Subpath != "" {
				if src, err = d.subpathSource(c.ID, i, src, mp.Subpath); err != nil {
					return nil, errdefs.InvalidArgument(fmt.Errorf("error while mounting volume '%s': %w", mp.Name, err))
				}
			}
			opts.Propagation = string(mount.PropagationRPrivate)
			out = append(out, oci.Bind(src, mp.Destination, opts))
		}
	}
	return out, nil
}

// subpathSource resolves a volume's subpath inside the volume (a symlink there never leads out of
// it) and binds what it found, by fd, on a private path of the daemon's: the runtime is given
// that path, which nothing in a container can redirect between this check and its mount
// (CVE-2021-30465). The binds go when the start is over (releaseSubpaths).
func (d *Daemon) subpathSource(id string, n int, volDir, subpath string) (string, error) {
	root, err := pathsafe.OpenRoot(volDir)
	if err != nil {
		return "", err
	}
	defer root.Close()
	h, err := pathsafe.Open(root, subpath)
	if err != nil {
		return "", fmt.Errorf("cannot access path %s: %w", subpath, unwrapPathError(err))
	}
	defer h.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(h.Fd()), &st); err != nil {
		return "", err
	}
	dir := filepath.Join(d.execDir(id), subpathDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	target := filepath.Join(dir, strconv.Itoa(n))
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		err = os.Mkdir(target, 0o700)
	} else {
		err = os.WriteFile(target, nil, 0o600)
	}
	if err != nil {
		return "", err
	}
	tree, err := unix.OpenTree(int(h.Fd()), "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE|unix.AT_EMPTY_PATH)
	if err != nil {
		return "", err
	}
	defer unix.Close(tree)
	if err := unix.MoveMount(tree, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return "", err
	}
	return target, nil
}

// subpathDir holds, in a container's exec directory, the binds of its volume subpaths while it
// starts.
const subpathDir = "subpaths"

// releaseSubpaths removes the binds subpathSource made for a container.
func (d *Daemon) releaseSubpaths(id string) {
	dir := filepath.Join(d.execDir(id), subpathDir)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		unmountTree(p)
		os.Remove(p) // never RemoveAll: were it still mounted, the volume's content would go
	}
	os.Remove(dir)
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// volumeMountedByRunning reports whether a running container other than except has the volume
// mounted: its directory must then be filled where it is.
func (d *Daemon) volumeMountedByRunning(name, except string) bool {
	for _, id := range d.volumeUsers(name) {
		if c, err := d.containers.Get(id); err == nil && id != except && c.Status.Alive() {
			return true
		}
	}
	return false
}

// sortMounts orders mounts so a parent is mounted before what lies under it.
func sortMounts(ms []specs.Mount) {
	depth := func(p string) int { return strings.Count(path.Clean(p), "/") }
	sort.SliceStable(ms, func(i, j int) bool { return depth(ms[i].Destination) < depth(ms[j].Destination) })
}

// containerInspectMounts is .Mounts of docker inspect.
func containerInspectMounts(c *container.Container) []ctypes.MountPoint {
	if c.MountPoints == nil {
		return inspectMounts(c.HostConfig)
	}
	out := []ctypes.MountPoint{}
	for _, mp := range inspectMounts(c.HostConfig) {
		if mp.Type == mount.TypeTmpfs {
			out = append(out, mp)
		}
	}
	for _, mp := range c.MountPoints {
		out = append(out, mp.MountPoint)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Destination < out[j].Destination })
	return out
}

// copyImageContent fills an empty volume directory with what the container's filesystem holds at
// dst (resolved inside rootfs), keeping owners, modes and times, as Docker does for a new volume.
func copyImageContent(rootfs, dst, volDir string) error {
	entries, err := os.ReadDir(volDir)
	if err != nil || len(entries) > 0 {
		return err
	}
	root, err := pathsafe.OpenRoot(rootfs)
	if err != nil {
		return err
	}
	defer root.Close()
	h, err := pathsafe.Open(root, dst)
	if err != nil {
		return nil // nothing there in the image
	}
	defer h.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(h.Fd()), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return nil
	}
	src := fmt.Sprintf("/proc/self/fd/%d", h.Fd())
	if err := copyTree(src, volDir); err != nil {
		return err
	}
	// The volume's root takes the directory's owner and mode.
	os.Lchown(volDir, int(st.Uid), int(st.Gid))
	return os.Chmod(volDir, os.FileMode(st.Mode&0o7777))
}

// copyTree copies src's content into dst without following symlinks. src may be a
// /proc/self/fd/N handle: only its own entries are looked up by name below it.
func copyTree(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		p, target := src+"/"+e.Name(), filepath.Join(dst, e.Name())
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		switch mode := fi.Mode(); {
		case mode.IsDir():
			if err := os.Mkdir(target, 0o700); err != nil {
				return err
			}
			if err := copyTree(p, target); err != nil {
				return err
			}
		case mode.IsRegular():
			if err := copyFile(p, target); err != nil {
				return err
			}
		case mode&os.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := os.Symlink(link, target); err != nil {
				return err
			}
		default: // devices, fifos, sockets
			if err := unix.Mknod(target, st.Mode, int(st.Rdev)); err != nil {
				return err
			}
		}
		if err := os.Lchown(target, int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			if err := unix.Chmod(target, st.Mode&0o7777); err != nil {
				return err
			}
		}
		unix.UtimesNanoAt(unix.AT_FDCWD, target, []unix.Timespec{unix.NsecToTimespec(st.Atim.Nano()), unix.NsecToTimespec(st.Mtim.Nano())}, unix.AT_SYMLINK_NOFOLLOW)
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.OpenFile(src, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// volumeEvent publishes a volume event (create, destroy).
func (d *Daemon) volumeEvent(name, action string) {
	d.bus.Publish(evtypes.Message{Type: evtypes.VolumeEventType, Action: evtypes.Action(action),
		Actor: evtypes.Actor{ID: name, Attributes: map[string]string{"driver": volume.DefaultDriver}}})
}

func (d *Daemon) volumeInfo(v *volume.Volume) voltypes.Volume {
	opts := v.Options
	if len(opts) == 0 {
		opts = nil // dockerd shows null
	}
	return voltypes.Volume{Name: v.Name, Driver: v.Driver, Labels: v.Labels, Options: opts, Scope: "local",
		Mountpoint: d.volumes.Path(v.Name), CreatedAt: v.CreatedAt.Format(time.RFC3339)}
}

// VolumeCreate answers POST /volumes/create.
func (d *Daemon) VolumeCreate(ctx context.Context, req voltypes.CreateRequest) (*voltypes.Volume, error) {
	v, created, err := d.volumes.Create(req.Name, req.Driver, req.Labels, req.DriverOpts)
	if err != nil {
		return nil, err
	}
	if created {
		d.volumeEvent(v.Name, "create")
	}
	info := d.volumeInfo(v)
	return &info, nil
}

// VolumeInspect answers GET /volumes/{name}.
func (d *Daemon) VolumeInspect(ctx context.Context, name string) (*voltypes.Volume, error) {
	v, err := d.volumes.Get(name)
	if err != nil {
		return nil, err
	}
	info := d.volumeInfo(v)
	return &info, nil
}

// VolumeList answers GET /volumes: filters name (substring), driver, label, dangling.
func (d *Daemon) VolumeList(ctx context.Context, f filters.Args) (*voltypes.ListResponse, error) {
	if err := f.Validate("name", "driver", "label", "dangling"); err != nil {
		return nil, err
	}
	dangling, err := danglingFilter(f)
	if err != nil {
		return nil, err
	}
	list, err := d.volumes.List()
	if err != nil {
		return nil, err
	}
	resp := &voltypes.ListResponse{Volumes: []voltypes.Volume{}, Warnings: []string{}}
	for _, v := range list {
		if f.Has("name") && !f.MatchFunc("name", func(s string) bool { return strings.Contains(v.Name, s) }) {
			continue
		}
		if !f.Match("driver", v.Driver) || !f.MatchLabels(v.Labels) {
			continue
		}
		if dangling != nil && (len(d.volumeUsers(v.Name)) == 0) != *dangling {
			continue
		}
		resp.Volumes = append(resp.Volumes, d.volumeInfo(v))
	}
	return resp, nil
}

func danglingFilter(f filters.Args) (*bool, error) {
	vs := f["dangling"]
	if len(vs) == 0 {
		return nil, nil
	}
	var b bool
	switch strings.ToLower(vs[0]) {
	case "true", "1":
		b = true
	case "false", "0":
	default:
		return nil, errdefs.InvalidArgument(fmt.Errorf("invalid filter 'dangling=%s'", vs[0]))
	}
	return &b, nil
}

// VolumeRemove answers DELETE /volumes/{name}: a volume in use is refused, even with force
// (which only forgives a missing volume), as in Docker.
func (d *Daemon) VolumeRemove(ctx context.Context, name string, force bool) error {
	if _, err := d.volumes.Get(name); err != nil {
		if force && errdefs.Is(err, errdefs.KindNotFound) {
			return nil
		}
		return err
	}
	if users := d.volumeUsers(name); len(users) > 0 {
		return errdefs.Conflict(fmt.Errorf("remove %s: volume is in use - [%s]", name, strings.Join(users, ", ")))
	}
	if err := d.volumes.Remove(name); err != nil {
		return err
	}
	d.volumeEvent(name, "destroy")
	return nil
}

// VolumePrune answers POST /volumes/prune: unused anonymous volumes, or every unused volume with
// all=true; label and label! filters select further.
func (d *Daemon) VolumePrune(ctx context.Context, f filters.Args) (*voltypes.PruneReport, error) {
	if err := f.Validate("label", "label!", "all"); err != nil {
		return nil, err
	}
	all := false
	if vs := f["all"]; len(vs) > 0 {
		all = vs[0] == "true" || vs[0] == "1"
	}
	list, err := d.volumes.List()
	if err != nil {
		return nil, err
	}
	report := &voltypes.PruneReport{VolumesDeleted: []string{}}
	for _, v := range list {
		if !all && !v.Anonymous() {
			continue
		}
		if !f.MatchLabelsForPrune(v.Labels) || len(d.volumeUsers(v.Name)) > 0 {
			continue
		}
		size := d.volumes.Size(v.Name)
		if err := d.volumes.Remove(v.Name); err != nil {
			d.log.Warn("prune: remove volume", "volume", v.Name, "err", err)
			continue
		}
		d.volumeEvent(v.Name, "destroy")
		report.VolumesDeleted = append(report.VolumesDeleted, v.Name)
		report.SpaceReclaimed += uint64(size)
	}
	return report, nil
}
