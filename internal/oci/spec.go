// Package oci turns berth's normalized container description into an OCI runtime spec with
// Docker's defaults: its 14 capabilities, its seccomp profile, masked and read-only paths, the
// /dev and /dev/shm mounts, the short-id hostname, and the user resolved inside the image.
package oci

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	seccompprofile "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultCapabilities are Docker's.
var DefaultCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// DefaultPath is the PATH of a container whose image sets none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

var maskedPaths = []string{
	"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
	"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
	"/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
}

var readonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}

// Container is the normalized description of a container: what the API body, the CLI flags and
// the CRI all become before anything is generated from them.
type Container struct {
	ID         string
	Hostname   string // default: the first 12 characters of ID
	Domainname string
	Args       []string // entrypoint + cmd, resolved
	Env        []string // image env overlaid with the container's
	WorkingDir string
	User       User
	Tty        bool
	Rootfs     string // the mounted root filesystem
	ReadOnly   bool
	Privileged bool
	CapAdd     []string
	CapDrop    []string
	// Resources
	Memory     int64 // bytes, 0: none
	MemorySwap int64 // bytes, -1: unlimited
	NanoCPUs   int64
	CPUShares  uint64
	PidsLimit  int64
	ShmSize    int64 // bytes of /dev/shm, 0: Docker's 64 MiB
	// HostCaps is the capability bounding set of the daemon: --privileged grants these, not
	// every capability the kernel knows (some hosts withhold some from root).
	HostCaps []string
	// HostDevices are the host's device nodes, which --privileged exposes.
	HostDevices []specs.LinuxDevice
	// Mounts are the user's (binds, tmpfs); one on a default mount's destination replaces it.
	Mounts     []specs.Mount
	CgroupPath string
	// NetNS is a network namespace path to join ("" for a new one, "host" for the host's).
	NetNS string
	// HostPID, HostIPC and HostUTS share the host\'s namespace of that kind (--pid/--ipc/--uts host).
	HostPID, HostIPC, HostUTS bool
	Rlimits                   []specs.POSIXRlimit
	Sysctls                   map[string]string
	// InitPath is the host path of the init (--init): bound read-only at InitDestination and
	// run as the process, with the container's command as its arguments.
	InitPath string
}

// InitDestination is where Docker puts its init (tini) in a container.
const InitDestination = "/sbin/docker-init"

// DefaultShmSize is Docker's /dev/shm size.
const DefaultShmSize = 64 << 20

// User is a resolved process identity.
type User struct {
	UID, GID       uint32
	AdditionalGids []uint32
	Home           string // from the image's passwd: HOME unless the image or container sets it
}

// Generate builds the spec.
func Generate(c *Container) (*specs.Spec, error) {
	hostname := c.Hostname
	if hostname == "" && len(c.ID) >= 12 {
		hostname = c.ID[:12]
	}
	caps, err := capabilities(c)
	if err != nil {
		return nil, err
	}
	env := withDefault(c.Env, "PATH", DefaultPath)
	if c.Tty {
		env = withDefault(env, "TERM", "xterm")
	}
	env = withDefault(env, "HOSTNAME", hostname)
	if c.User.Home != "" {
		env = withDefault(env, "HOME", c.User.Home)
	}
	cwd := c.WorkingDir
	if cwd == "" {
		cwd = "/"
	}
	args := c.Args
	userMounts := append([]specs.Mount{}, c.Mounts...)
	if c.InitPath != "" {
		args = append([]string{InitDestination, "--"}, c.Args...)
		userMounts = append(userMounts, specs.Mount{Destination: InitDestination, Type: "bind", Source: c.InitPath, Options: []string{"bind", "ro"}})
	}
	s := &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Terminal: c.Tty,
			Args:     args,
			Rlimits:  c.Rlimits,
			Env:      env,
			Cwd:      cwd,
			User:     specs.User{UID: c.User.UID, GID: c.User.GID, AdditionalGids: c.User.AdditionalGids},
			Capabilities: &specs.LinuxCapabilities{
				Bounding: caps, Effective: caps, Permitted: caps,
			},
		},
		Root:       &specs.Root{Path: c.Rootfs, Readonly: c.ReadOnly},
		Hostname:   hostname,
		Domainname: c.Domainname,
		Mounts:     withUserMounts(defaultMounts(c.ShmSize), userMounts),
		Linux: &specs.Linux{
			Sysctl:      c.Sysctls,
			CgroupsPath: c.CgroupPath,
			Resources:   resources(c),
			Namespaces:  []specs.LinuxNamespace{{Type: specs.MountNamespace}},
		},
	}
	for _, ns := range []struct {
		kind specs.LinuxNamespaceType
		host bool
	}{{specs.PIDNamespace, c.HostPID}, {specs.IPCNamespace, c.HostIPC}, {specs.UTSNamespace, c.HostUTS}} {
		if !ns.host {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: ns.kind})
		}
	}
	if c.HostUTS {
		s.Hostname, s.Domainname = "", "" // the host's own name stays
	}
	switch c.NetNS {
	case "":
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace})
	case "host":
	default:
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: c.NetNS})
	}
	if c.Privileged {
		// Docker's --privileged: every device, no masks, no seccomp, writable /sys.
		for i := range s.Mounts {
			if s.Mounts[i].Destination == "/sys" || s.Mounts[i].Destination == "/sys/fs/cgroup" {
				s.Mounts[i].Options = replace(s.Mounts[i].Options, "ro", "rw")
			}
		}
		s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
		s.Linux.Devices = c.HostDevices
		return s, nil
	}
	s.Linux.MaskedPaths = maskedPaths
	s.Linux.ReadonlyPaths = readonlyPaths
	profile, err := seccompprofile.GetDefaultProfile(s)
	if err != nil {
		return nil, fmt.Errorf("docker's default seccomp profile: %w", err)
	}
	s.Linux.Seccomp = profile
	return s, nil
}

// capabilities applies --cap-add/--cap-drop ("ALL" allowed) to Docker's defaults, or grants the
// host's set for --privileged.
func capabilities(c *Container) ([]string, error) {
	if c.Privileged {
		return append([]string{}, c.HostCaps...), nil
	}
	norm := func(n string) string {
		n = strings.ToUpper(n)
		if n != "ALL" && !strings.HasPrefix(n, "CAP_") {
			n = "CAP_" + n
		}
		return n
	}
	set := map[string]bool{}
	for _, cp := range DefaultCapabilities {
		set[cp] = true
	}
	for _, d := range c.CapDrop {
		if norm(d) == "ALL" {
			set = map[string]bool{}
			continue
		}
		delete(set, norm(d))
	}
	for _, a := range c.CapAdd {
		if norm(a) == "ALL" {
			for _, h := range c.HostCaps {
				set[h] = true
			}
			continue
		}
		set[norm(a)] = true
	}
	var out []string
	for _, cp := range append(append([]string{}, DefaultCapabilities...), c.HostCaps...) {
		if set[cp] {
			out = append(out, cp)
			delete(set, cp)
		}
	}
	for cp := range set { // added capabilities the host list does not name
		out = append(out, cp)
	}
	return out, nil
}

func resources(c *Container) *specs.LinuxResources {
	r := &specs.LinuxResources{Devices: defaultDeviceRules()}
	if c.Memory > 0 {
		r.Memory = &specs.LinuxMemory{Limit: &c.Memory}
		swap := c.MemorySwap
		if swap == 0 {
			swap = c.Memory * 2 // Docker: swap equal to memory unless told otherwise
		}
		r.Memory.Swap = &swap
	}
	if c.NanoCPUs > 0 {
		period := uint64(100000)
		quota := c.NanoCPUs * int64(period) / 1e9
		r.CPU = &specs.LinuxCPU{Period: &period, Quota: &quota}
	}
	if c.CPUShares > 0 {
		if r.CPU == nil {
			r.CPU = &specs.LinuxCPU{}
		}
		r.CPU.Shares = &c.CPUShares
	}
	if c.PidsLimit != 0 {
		r.Pids = &specs.LinuxPids{Limit: &c.PidsLimit}
	}
	return r
}

func i64(v int64) *int64 { return &v }

// defaultDeviceRules are Docker's: nothing, then the usual character devices, mknod of any.
func defaultDeviceRules() []specs.LinuxDeviceCgroup {
	rule := func(t string, major, minor int64, access string) specs.LinuxDeviceCgroup {
		d := specs.LinuxDeviceCgroup{Allow: true, Type: t, Access: access}
		if major >= 0 {
			d.Major = i64(major)
		}
		if minor >= 0 {
			d.Minor = i64(minor)
		}
		return d
	}
	return []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		rule("c", -1, -1, "m"), rule("b", -1, -1, "m"),
		rule("c", 1, 3, "rwm"), rule("c", 1, 8, "rwm"), rule("c", 1, 7, "rwm"), rule("c", 5, 0, "rwm"),
		rule("c", 1, 5, "rwm"), rule("c", 1, 9, "rwm"), rule("c", 5, 1, "rwm"), rule("c", 136, -1, "rwm"),
		rule("c", 5, 2, "rwm"), rule("c", 10, 200, "rwm"),
	}
}

// withUserMounts adds the user's mounts after the defaults, parents before children (as Docker
// sorts them), dropping a default whose destination a user mount takes.
func withUserMounts(defaults, user []specs.Mount) []specs.Mount {
	taken := map[string]bool{}
	for _, m := range user {
		taken[path.Clean(m.Destination)] = true
	}
	var out []specs.Mount
	for _, m := range defaults {
		if !taken[m.Destination] {
			out = append(out, m)
		}
	}
	sorted := append([]specs.Mount{}, user...)
	sort.SliceStable(sorted, func(i, j int) bool { return depth(sorted[i].Destination) < depth(sorted[j].Destination) })
	return append(out, sorted...)
}

func depth(p string) int { return strings.Count(path.Clean(p), "/") }

func defaultMounts(shmSize int64) []specs.Mount {
	if shmSize <= 0 {
		shmSize = DefaultShmSize
	}
	return []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro", "nosuid", "noexec", "nodev"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=" + strconv.FormatInt(shmSize, 10)}},
	}
}

func withDefault(env []string, key, value string) []string {
	for _, e := range env {
		if strings.HasPrefix(e, key+"=") {
			return env
		}
	}
	return append(append([]string{}, env...), key+"="+value)
}

func replace(list []string, from, to string) []string {
	out := append([]string{}, list...)
	for i, v := range out {
		if v == from {
			out[i] = to
		}
	}
	return out
}
