package libct

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/berthproject/berth/internal/pathsafe"
	"github.com/berthproject/berth/internal/runtime/caps"
	"github.com/berthproject/berth/internal/runtime/initproc"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The C init (internal/runtime/nsenter/cinit.c) finishes a container without starting Go in it:
// the runtime resolves everything here and sends it a plan, a flat list of operations in the
// order the Go init would perform them. These opcodes and bits mirror cinit.c.
const (
	planRootPropagation = 1
	planBindRootfs      = 2
	planMount           = 3
	planMkdir           = 4
	planMknod           = 5
	planDevSymlinks     = 6
	planSysctl          = 7
	planHostname        = 8
	planDomainname      = 9
	planPivot           = 10
	planReadonly        = 11
	planMask            = 12
	planRootReadonly    = 13
	planRemount         = 14
	planUnshareCgroup   = 15
	planProcess         = 16

	mBind          = 1
	mRec           = 2
	mCheckTarget   = 4
	mFallback      = 8
	mFallbackEPERM = 16
	mFallbackRec   = 32

	planMax    = 8 << 20 // cinit.c's buffer
	planStrMax = 65536   // arguments and environment entries
)

// GoInitEnv, set to 1 in the runtime's environment, keeps every container on the Go init (to
// compare the two, or to rule the C init out).
const GoInitEnv = "BERTH_GO_INIT"

type planWriter struct{ b []byte }

func (w *planWriter) u32(v uint32) { w.b = binary.NativeEndian.AppendUint32(w.b, v) }
func (w *planWriter) u64(v uint64) { w.b = binary.NativeEndian.AppendUint64(w.b, v) }
func (w *planWriter) str(s string) {
	w.u32(uint32(len(s) + 1))
	w.b = append(append(w.b, s...), 0)
}
func (w *planWriter) bytes(b []byte) {
	w.u32(uint32(len(b)))
	w.b = append(w.b, b...)
}
func (w *planWriter) flag(b bool) {
	if b {
		w.u32(1)
	} else {
		w.u32(0)
	}
}

// cinitPlan returns the plan for the C init, or ok=false when the container needs the Go init:
// a terminal, hooks that run in the init, a user namespace, a joined mount namespace, --no-pivot,
// a shared root propagation, cgroup mounts on a cgroup v2 host, or anything the C side has no
// room for. pid is the init's pid (its cgroups are read from it). Strings that would not survive
// the trip (a NUL inside) also send the container to the Go init, whose checks report them.
func cinitPlan(cfg *initproc.Config, pid int) (plan []byte, ok bool) {
	if !cinitEligible(cfg) {
		return nil, false
	}
	spec, p := cfg.Spec, cfg.Process
	w := &planWriter{}
	if cfg.UnshareCgroup {
		w.u32(planUnshareCgroup)
	}
	w.u32(planRootPropagation)
	w.u64(uint64(initproc.PropagationFlags[spec.Linux.RootfsPropagation]))
	w.u32(planBindRootfs)
	w.str(cfg.Rootfs)
	devBound := false
	for _, m := range spec.Mounts {
		if !planMountOne(w, cfg, pid, m) {
			return nil, false
		}
		_, bind, _, _ := initproc.ParseMountOptions(m.Options)
		if filepath.Clean(m.Destination) == "/dev" && (m.Type == "bind" || bind) {
			devBound = true
		}
	}
	w.u32(planMkdir)
	w.str(p.Cwd)
	if !devBound {
		for _, n := range initproc.DeviceNodes(spec.Linux.Devices) {
			w.u32(planMknod)
			w.str(n.Path)
			w.u32(n.Type | n.Mode)
			w.u32(uint32(n.Major))
			w.u32(uint32(n.Minor))
			w.u32(n.UID)
			w.u32(n.GID)
		}
		links, ptmx := initproc.DevSymlinks(spec.Mounts)
		w.u32(planDevSymlinks)
		w.flag(ptmx)
		w.u32(uint32(len(links)))
		for _, l := range links {
			w.str(l[0])
			w.str(l[1])
		}
	}
	for k, v := range spec.Linux.Sysctl {
		w.u32(planSysctl)
		w.str("/proc/sys/" + strings.ReplaceAll(k, ".", "/"))
		w.str(v)
	}
	w.u32(planPivot)
	w.str(cfg.Rootfs)
	if cfg.UTSNS {
		if spec.Hostname != "" {
			w.u32(planHostname)
			w.str(spec.Hostname)
		}
		if spec.Domainname != "" {
			w.u32(planDomainname)
			w.str(spec.Domainname)
		}
	}
	for _, ro := range spec.Linux.ReadonlyPaths {
		w.u32(planReadonly)
		w.str(ro)
	}
	w.u32(planMask)
	w.u32(uint32(len(spec.Linux.MaskedPaths)))
	for _, m := range spec.Linux.MaskedPaths {
		w.str(m)
	}
	if spec.Root != nil && spec.Root.Readonly {
		w.u32(planRootReadonly)
	}
	if !planProcessRecord(w, cfg) {
		return nil, false
	}
	if len(w.b) > planMax || !nulOnlyAsTerminators(cfg) {
		return nil, false
	}
	return w.b, true
}

// cinitEligible is the part of cinitPlan's choice that needs no pid: cheap, so that the runtime
// knows early whether to prepare the Go init's JSON at all.
func cinitEligible(cfg *initproc.Config) bool {
	spec, p := cfg.Spec, cfg.Process
	if os.Getenv(GoInitEnv) == "1" || cfg.Mode != "create" || spec == nil || spec.Linux == nil || p == nil ||
		p.Terminal || cfg.ConsoleFd != 0 || cfg.UserNS || !cfg.MountNS || cfg.NoPivot ||
		!initproc.HasNewNS(spec, specs.MountNamespace) || !pathsafe.HaveOpenat2() {
		return false
	}
	if h := spec.Hooks; h != nil {
		//lint:ignore SA1019 prestart is deprecated but still part of the OCI spec and still run
		if len(h.Prestart)+len(h.CreateRuntime)+len(h.CreateContainer)+len(h.StartContainer) > 0 {
			return false
		}
	}
	switch spec.Linux.RootfsPropagation {
	case "", "rslave", "rprivate":
		// Every mount is left unshared, so the rootfs's parent mount needs no change for pivot_root.
	default:
		return false
	}
	return len(p.Args) > 0 && len(p.Args) <= planStrMax && len(p.Env) <= planStrMax && len(p.Rlimits) <= 64 &&
		len(p.User.AdditionalGids) <= 65536
}

// nulOnlyAsTerminators reports whether no string of the config holds a NUL of its own (the C
// side reads strings up to their NUL).
func nulOnlyAsTerminators(cfg *initproc.Config) bool {
	bad := func(s string) bool { return strings.IndexByte(s, 0) >= 0 }
	for _, s := range append(append([]string{cfg.Rootfs, cfg.Process.Cwd, cfg.Spec.Hostname, cfg.Spec.Domainname}, cfg.Process.Args...), cfg.Process.Env...) {
		if bad(s) {
			return false
		}
	}
	for _, m := range cfg.Spec.Mounts {
		for _, s := range append([]string{m.Source, m.Destination, m.Type}, m.Options...) {
			if bad(s) {
				return false
			}
		}
	}
	for k, v := range cfg.Spec.Linux.Sysctl {
		if bad(k) || bad(v) {
			return false
		}
	}
	for _, s := range append(append([]string{}, cfg.Spec.Linux.ReadonlyPaths...), cfg.Spec.Linux.MaskedPaths...) {
		if bad(s) {
			return false
		}
	}
	return true
}

type planMountArgs struct {
	dest, src, fstype, data string
	flags                   uintptr
	bits                    uint32
	expect, fallback        string
	fallbackRemount         uintptr
	remountExtra            uintptr
	propagation             []uintptr
	recSet, recClear        uint64
}

func (w *planWriter) mount(a planMountArgs) {
	w.u32(planMount)
	w.str(a.dest)
	w.str(a.src)
	w.str(a.fstype)
	w.str(a.data)
	w.u64(uint64(a.flags))
	w.u32(a.bits)
	w.str(a.expect)
	w.str(a.fallback)
	w.u64(uint64(a.fallbackRemount))
	w.u64(uint64(a.remountExtra))
	w.u32(uint32(len(a.propagation)))
	for _, p := range a.propagation {
		w.u64(uint64(p))
	}
	w.u64(a.recSet)
	w.u64(a.recClear)
}

// planMountOne writes the operations of one spec mount, as initproc's mountOne performs them.
func planMountOne(w *planWriter, cfg *initproc.Config, pid int, m specs.Mount) bool {
	opts, bind, rec, err := initproc.ParseMountOptions(m.Options)
	if err != nil || len(opts.Propagation) > 16 {
		return false // the Go init reports the error
	}
	if m.Type == "bind" {
		bind = true
		opts.Flags |= unix.MS_BIND
	}
	a := planMountArgs{dest: m.Destination, src: m.Source, fstype: m.Type, data: opts.Data, flags: opts.Flags,
		propagation: opts.Propagation, recSet: opts.RecSet, recClear: opts.RecClear}
	switch {
	case bind:
		if !filepath.IsAbs(a.src) {
			a.src = filepath.Join(cfg.State.Bundle, a.src)
		}
		a.fstype, a.data, a.flags = "", "", 0
		a.bits = mBind
		if rec {
			a.bits |= mRec
		}
		a.remountExtra = opts.Flags &^ (unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT)
	case m.Type == "cgroup" || m.Type == "cgroup2":
		if initproc.Cgroup2Host() || len(a.propagation) > 0 || a.recSet != 0 || a.recClear != 0 {
			return false
		}
		return planCgroupV1(w, cfg, pid, m.Destination, opts.Flags)
	default:
		if m.Type == "proc" || m.Type == "sysfs" {
			a.bits |= mCheckTarget
			a.expect = filepath.Join(cfg.Rootfs, m.Destination)
		}
		if host, ok := map[string]string{"sysfs": "/sys", "mqueue": "/dev/mqueue"}[m.Type]; ok {
			// A user namespace without its own netns/ipcns may not mount these: borrow the host's.
			a.bits |= mFallback | mFallbackEPERM | mFallbackRec
			a.fallback = host
			if opts.Flags&unix.MS_RDONLY != 0 {
				a.fallbackRemount = unix.MS_RDONLY | opts.Flags&(unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC)
			}
		}
	}
	w.mount(a)
	return true
}

// planCgroupV1 is initproc's mountCgroup on a cgroup v1 host: a tmpfs with one directory per
// hierarchy, each a cgroup mount (with a cgroup namespace, scoped by the kernel) or a bind of the
// container's own directory.
func planCgroupV1(w *planWriter, cfg *initproc.Config, pid int, dest string, flags uintptr) bool {
	cgns := initproc.HasNewNS(cfg.Spec, specs.CgroupNamespace)
	ro := flags & unix.MS_RDONLY
	base := flags & (unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	own, err := initproc.OwnCgroups("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return false
	}
	hiers, err := cgroupV1Hierarchies()
	if err != nil {
		return false
	}
	w.mount(planMountArgs{dest: dest, src: "tmpfs", fstype: "tmpfs", data: "mode=755", flags: base})
	for _, h := range hiers {
		sub := filepath.Join(dest, h.Name)
		if cgns {
			w.mount(planMountArgs{dest: sub, src: "cgroup", fstype: "cgroup", data: h.Controllers, flags: base | ro})
		} else {
			w.mount(planMountArgs{dest: sub, src: filepath.Join(h.Mountpoint, own[h.Key]), bits: mBind | mRec, remountExtra: base | ro})
		}
	}
	if ro != 0 {
		w.u32(planRemount)
		w.str(dest)
		w.u64(uint64(unix.MS_REMOUNT | unix.MS_RDONLY | base))
	}
	return true
}

// planProcessRecord writes what the init needs once `start` releases it.
func planProcessRecord(w *planWriter, cfg *initproc.Config) bool {
	p := cfg.Process
	sets, _, err := caps.FromSpec(p.Capabilities)
	if err != nil {
		return false
	}
	w.u32(planProcess)
	w.u32(uint32(cfg.FifoFd))
	w.u32(uint32(len(p.Rlimits)))
	for _, rl := range p.Rlimits {
		n, ok := initproc.RlimitNames[rl.Type]
		if !ok {
			return false
		}
		w.u32(uint32(n))
		w.u64(rl.Soft)
		w.u64(rl.Hard)
	}
	w.flag(p.OOMScoreAdj != nil)
	if p.OOMScoreAdj != nil {
		w.str(strconv.Itoa(*p.OOMScoreAdj))
	} else {
		w.str("")
	}
	w.flag(p.NoNewPrivileges)
	if cfg.Seccomp != nil {
		w.u32(uint32(cfg.Seccomp.Flags))
		w.bytes(cfg.Seccomp.BPF)
	} else {
		w.u32(0)
		w.bytes(nil)
	}
	w.flag(p.Capabilities != nil)
	for _, s := range []caps.Set{sets.Bounding, sets.Effective, sets.Permitted, sets.Inheritable, sets.Ambient} {
		w.u64(uint64(s))
	}
	w.u32(uint32(caps.Last()))
	w.u32(p.User.UID)
	w.u32(p.User.GID)
	w.u32(uint32(len(p.User.AdditionalGids)))
	for _, g := range p.User.AdditionalGids {
		w.u32(g)
	}
	w.flag(cfg.UserNS)
	umask := uint32(0o022)
	if p.User.Umask != nil {
		umask = *p.User.Umask
	}
	w.u32(umask)
	w.str(p.Cwd)
	// The Go init looks the program up with the PATH its environment ends up with: the last one.
	path, hasPath := "", false
	for _, kv := range p.Env {
		if k, v, _ := strings.Cut(kv, "="); k == "PATH" {
			path, hasPath = v, true
		}
	}
	w.flag(hasPath)
	w.str(path)
	w.u32(uint32(len(p.Args)))
	for _, a := range p.Args {
		w.str(a)
	}
	w.u32(uint32(len(p.Env)))
	for _, e := range p.Env {
		w.str(e)
	}
	return true
}
