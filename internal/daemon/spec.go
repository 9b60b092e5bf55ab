package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/berthproject/berth/internal/container"
	"github.com/berthproject/berth/internal/errdefs"
	"github.com/berthproject/berth/internal/network"
	"github.com/berthproject/berth/internal/oci"
	"github.com/berthproject/berth/internal/runtime/caps"
	"github.com/berthproject/berth/internal/signals"
	ctypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// linuxMinMemory is dockerd's smallest memory limit.
const linuxMinMemory = 6 << 20

// validateHostConfig refuses at create what dockerd refuses there, with its messages, and fills
// the defaults dockerd records (the /dev/shm size, swap twice the memory limit).
func (d *Daemon) validateHostConfig(cfg *ctypes.Config, h *ctypes.HostConfig) error {
	invalid := func(format string, a ...any) error { return errdefs.InvalidArgument(fmt.Errorf(format, a...)) }
	if cfg.StopSignal != "" {
		if _, err := signals.Parse(cfg.StopSignal); err != nil {
			return invalid("Invalid signal: %s", cfg.StopSignal)
		}
	}
	for _, list := range []struct {
		field string
		caps  []string
	}{{"CapAdd", h.CapAdd}, {"CapDrop", h.CapDrop}} {
		for _, c := range list.caps {
			if n := normalizeCap(c); n != "ALL" {
				if _, ok := caps.Number(n); !ok {
					return invalid("invalid %s: unknown capability: %q", list.field, n)
				}
			}
		}
	}
	if err := ctypes.ValidateRestartPolicy(h.RestartPolicy); err != nil {
		return errdefs.InvalidArgument(err)
	}
	if h.AutoRemove && h.RestartPolicy.Name != "" && h.RestartPolicy.Name != ctypes.RestartPolicyDisabled {
		return invalid("can't create 'AutoRemove' container with restart policy")
	}
	switch {
	case !h.PidMode.Valid():
		return invalid("invalid PID mode: %v", h.PidMode)
	case !h.IpcMode.Valid():
		return invalid("invalid IPC mode: %v", h.IpcMode)
	case !h.UTSMode.Valid():
		return invalid("invalid UTS mode: %v", h.UTSMode)
	case h.PidMode.IsContainer(), h.IpcMode.IsContainer():
		return errdefs.NotImplemented(errors.New("sharing another container's PID or IPC namespace is not supported yet"))
	case h.UTSMode.IsHost() && cfg.Hostname != "":
		return invalid("conflicting options: hostname and the UTS mode")
	}
	switch mode := string(h.NetworkMode); {
	case mode == "" || mode == "default" || mode == "bridge" || mode == "none" || mode == "host":
	case strings.HasPrefix(mode, "container:"):
		if cfg.Hostname != "" {
			return invalid("conflicting options: hostname and the network mode")
		}
	default:
		// A user-defined network. Refused at create when missing, which spares a container that
		// could never start. Not a 404: docker's CLI would take it for a missing image and pull.
		if !d.networkExists(mode) {
			return invalid("network %s not found", mode)
		}
	}
	if h.Memory != 0 && h.Memory < linuxMinMemory {
		return invalid("Minimum memory limit allowed is 6MB")
	}
	if h.Memory > 0 && h.MemorySwap > 0 && h.MemorySwap < h.Memory {
		return invalid("Minimum memoryswap limit should be larger than memory limit, see usage")
	}
	if h.Memory == 0 && h.MemorySwap > 0 {
		return invalid("You should always set the Memory limit when using Memoryswap limit, see usage")
	}
	if h.NanoCPUs > 0 && h.CPUPeriod > 0 {
		return invalid("Conflicting options: Nano CPUs and CPU Period cannot both be set")
	}
	if h.NanoCPUs > 0 && h.CPUQuota > 0 {
		return invalid("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
	}
	if n := runtime.NumCPU(); h.NanoCPUs < 0 || h.NanoCPUs > int64(n)*1e9 {
		return invalid("Range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available", n, n)
	}
	if h.ShmSize < 0 {
		return invalid("SHM size can not be less than 0")
	}
	for dst := range h.Tmpfs {
		if path.Clean(dst) == "/" {
			return invalid("invalid specification: destination can't be '/'")
		}
		if !path.IsAbs(dst) {
			return invalid("invalid mount path: '%s' mount path must be absolute", dst)
		}
	}
	if _, err := containerMounts(h, true); err != nil {
		return err
	}
	if h.ShmSize == 0 {
		h.ShmSize = oci.DefaultShmSize
	}
	if h.Memory > 0 && h.MemorySwap == 0 {
		h.MemorySwap = h.Memory * 2
	}
	return nil
}

func normalizeCap(c string) string {
	c = strings.ToUpper(strings.TrimSpace(c))
	if c != "ALL" && !strings.HasPrefix(c, "CAP_") {
		c = "CAP_" + c
	}
	return c
}

// hostCapabilities is the daemon's bounding set, by name: what --privileged (and exec
// --privileged) grants, since some hosts withhold capabilities even from root. It does not
// change while the daemon runs, so it is read once.
var hostCapabilities = sync.OnceValues(func() ([]string, error) {
	host, err := caps.Current()
	if err != nil {
		return nil, err
	}
	var names []string
	for i := 0; i <= caps.Last(); i++ {
		if host.Bounding.Has(i) {
			names = append(names, caps.Name(i))
		}
	}
	return names, nil
})

// netnsPath is where a container's network namespace is pinned while it runs.
// cgroupPath is the container's cgroup (the spec's cgroupsPath), under each v1 hierarchy or in
// the v2 tree.
func cgroupPath(id string) string { return "/berth/" + id }

func (d *Daemon) netnsPath(id string) string { return filepath.Join(d.cfg.ExecRoot, "netns", id) }

// containerSpec normalizes a container record (its Config and HostConfig over its image) into
// the description the OCI spec is generated from.
func (d *Daemon) containerSpec(c *container.Container, rootfs string) (*oci.Container, error) {
	user, err := oci.ResolveUser(rootfs, c.Config.User)
	if err != nil {
		return nil, err
	}
	img, err := d.images.Resolve(context.Background(), c.ImageID)
	if err != nil {
		return nil, err
	}
	env := append(append([]string{}, img.Config.Env...), c.Config.Env...)
	wd := c.Config.WorkingDir
	if wd == "" {
		wd = img.Config.WorkingDir
	}
	hostList, _ := hostCapabilities()
	h := c.HostConfig
	oc := &oci.Container{
		ID: c.ID, Hostname: c.Config.Hostname, Domainname: c.Config.Domainname,
		Args: append([]string{c.Path}, c.Args...), Env: env, WorkingDir: wd, User: user, Tty: c.Config.Tty,
		Rootfs: rootfs, ReadOnly: h.ReadonlyRootfs, Privileged: h.Privileged, CapAdd: h.CapAdd, CapDrop: h.CapDrop,
		Memory: h.Memory, MemorySwap: h.MemorySwap, NanoCPUs: h.NanoCPUs, CPUShares: uint64(h.CPUShares),
		ShmSize: h.ShmSize, HostCaps: hostList, CgroupPath: cgroupPath(c.ID), Sysctls: h.Sysctls,
	}
	if h.PidsLimit != nil {
		oc.PidsLimit = *h.PidsLimit
	}
	oc.HostPID, oc.HostIPC, oc.HostUTS = h.PidMode.IsHost(), h.IpcMode.IsHost(), h.UTSMode.IsHost()
	if oc.NetNS, err = d.networkNamespace(c); err != nil {
		return nil, err
	}
	if oc.NetNS == "host" && oc.Hostname == "" {
		oc.Hostname = containerHostname(c)
	}
	if oc.Mounts, err = userMounts(h, c.MountPoints != nil); err != nil {
		return nil, err
	}
	vols, err := d.volumeMounts(c, rootfs) // volumes.go
	if err != nil {
		return nil, err
	}
	oc.Mounts = append(oc.Mounts, vols...)
	sortMounts(oc.Mounts)
	oc.Mounts = append(d.etcMounts(c, oc.Mounts), oc.Mounts...)
	for _, u := range h.Ulimits {
		oc.Rlimits = append(oc.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_" + strings.ToUpper(u.Name), Soft: uint64(u.Soft), Hard: uint64(u.Hard)})
	}
	if h.Privileged {
		if oc.HostDevices, err = oci.HostDevices(); err != nil {
			return nil, fmt.Errorf("list host devices for --privileged: %w", err)
		}
	}
	if h.Init != nil && *h.Init {
		if oc.InitPath, err = initPath(); err != nil {
			return nil, err
		}
	}
	return oc, nil
}

// networkNamespace is the network namespace the container runs in: "host", another container's
// (container:<id>), or, in any other mode, one of its own that setUpNetwork makes at netnsPath
// before the container runs in it.
func (d *Daemon) networkNamespace(c *container.Container) (string, error) {
	joined, err := d.joinNetwork(c)
	switch {
	case err != nil:
		return "", err
	case joined != "":
		return joined, nil
	case c.HostConfig.NetworkMode == "host":
		return "host", nil
	}
	return d.netnsPath(c.ID), nil
}

// containerHostname is the name the container's /etc/hostname and /etc/hosts give it: its
// --hostname, else, as Docker, the host's name on the host's network and its short id elsewhere.
func containerHostname(c *container.Container) string {
	if c.Config.Hostname != "" {
		return c.Config.Hostname
	}
	if c.HostConfig.NetworkMode == "host" {
		name, _ := os.Hostname()
		return name
	}
	return c.ID[:12]
}

// setUpNetwork makes what the container's network needs before it runs, in two steps, each
// reported on its channel (a failure ends both): on prepared, what the init needs to start, its
// own namespace (unless it shares the host's or another container's), its addresses and its
// /etc files, which name them; on networked, its interfaces, port rules and DNS server, which
// only its process needs. The caller releases what a failure leaves. It needs neither the root
// filesystem nor the spec, so the start does it while it mounts the one, writes the other and
// starts the shim, and the init sets up while the interfaces are made.
func (d *Daemon) setUpNetwork(c *container.Container, netNS string, prepared, networked chan<- error) {
	own := netNS == d.netnsPath(c.ID)
	err := func() error {
		if own {
			if err := os.MkdirAll(filepath.Dir(netNS), 0o700); err != nil {
				return err
			}
			network.RemoveNamespace(netNS) // a previous run's, if the daemon died before cleaning up
			if err := network.NewNamespace(netNS); err != nil {
				return err
			}
			if err := d.reserveNetwork(c); err != nil {
				return err
			}
		}
		return d.writeEtcFiles(c, containerHostname(c), c.HostConfig.NetworkMode == "host")
	}()
	prepared <- err
	if err == nil && own {
		err = d.plumbNetwork(c, netNS)
	}
	networked <- err
}

// userMounts turns Binds, Mounts and Tmpfs into OCI mounts. A missing -v source is made (a
// directory, as Docker does); a missing --mount bind source is an error.
func userMounts(h *ctypes.HostConfig, recorded bool) ([]specs.Mount, error) {
	mps, err := containerMounts(h, true)
	if err != nil {
		return nil, err
	}
	var out []specs.Mount
	for _, mp := range mps {
		switch mp.Type {
		case mount.TypeBind:
			if recorded {
				continue // in the container's MountPoints (volumes.go)
			}
			if mp.createSource {
				if err := os.MkdirAll(mp.Source, 0o755); err != nil {
					return nil, fmt.Errorf("error while creating mount source path '%s': %w", mp.Source, err)
				}
			}
			out = append(out, oci.BindMount(mp.Source, mp.Destination, !mp.RW, string(mp.Propagation)))
		case mount.TypeTmpfs:
			m, err := oci.TmpfsMount(mp.Destination, mp.tmpfsData())
			if err != nil {
				return nil, errdefs.InvalidArgument(err)
			}
			out = append(out, m)
		}
	}
	dsts := make([]string, 0, len(h.Tmpfs))
	for dst := range h.Tmpfs {
		dsts = append(dsts, dst)
	}
	sort.Strings(dsts)
	for _, dst := range dsts {
		m, err := oci.TmpfsMount(path.Clean(dst), h.Tmpfs[dst])
		if err != nil {
			return nil, errdefs.InvalidArgument(err)
		}
		out = append(out, m)
	}
	return out, nil
}

// initPath finds berth-init (what --init runs as docker-init): beside berthd, then on PATH.
func initPath() (string, error) {
	if self, err := os.Executable(); err == nil {
		if p := filepath.Join(filepath.Dir(self), "berth-init"); isExecutable(p) {
			return p, nil
		}
	}
	for _, name := range []string{"berth-init", "docker-init"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("--init: berth-init not found beside berthd or on PATH")
}
