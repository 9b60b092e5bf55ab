// Package libct is berth's OCI runtime library: it creates, starts, signals, execs into and
// deletes containers described by OCI bundles. cmd/berth-runtime is a thin CLI over it.
//
// A container is made by re-executing the runtime binary (a sealed copy, see exeseal) as
// "init": its C constructor (package nsenter) sets up namespaces before Go starts, then the Go
// half (init_linux.go) builds the root filesystem and waits on exec.fifo until `start`.
package libct

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/berthproject/berth/internal/atomicfile"
	"github.com/berthproject/berth/internal/runtime/initproc"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"time"

	"github.com/berthproject/berth/internal/runtime/caps"
	"github.com/berthproject/berth/internal/runtime/cgroup"
	"github.com/berthproject/berth/internal/runtime/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Runtime runs containers whose state lives under Store.Root.
type Runtime struct {
	Store Store
	// Warn receives non-fatal problems (unknown capabilities, ignored LSM labels, hook failures
	// after start).
	Warn func(format string, args ...any)
	// Debug, when set, receives a trace of the steps of each operation with their timing.
	Debug func(format string, args ...any)
}

// seccompCache is where compiled seccomp programs are kept, in the state root (0700): a dot
// directory, which is no container id.
func (r *Runtime) seccompCache() string {
	if r.Store.Root == "" {
		return ""
	}
	return filepath.Join(r.Store.Root, ".seccomp-cache")
}

func (r *Runtime) debug(format string, args ...any) {
	if r.Debug != nil {
		r.Debug(format, args...)
	}
}

func (r *Runtime) warn(format string, args ...any) {
	if r.Warn != nil {
		r.Warn(format, args...)
	}
}

// CreateOpts are the inputs of Create.
type CreateOpts struct {
	ID            string
	Bundle        string
	PidFile       string
	ConsoleSocket string
	NoPivot       bool
	Stdio         [3]*os.File
	// console is a connected console socket made by Run for a foreground terminal.
	console *os.File
	// spec is config.json, and specJSON its bytes, when the caller (Run) has already read it.
	spec     *specs.Spec
	specJSON []byte
	// sealed is the init's executable when the caller (Run) started preparing it.
	sealed *pendingExe
	// bundleReady: Proceed's first go-ahead was read (by Run, before it read the spec).
	bundleReady bool
	// Proceed, when given, carries three go-aheads, a byte each: the bundle is written (the
	// spec is read after it), the init may start (the namespaces and files it joins and mounts
	// are made: read just before it is started), the create may complete (read last, so that
	// a start follows at once). EOF instead cancels the create. A berth extension
	// (--proceed-fd): the runtime starts up while berthd writes the bundle, reads the spec while
	// it makes the container's network namespace, and the init builds the container while
	// berthd sets up its network.
	Proceed *os.File
}

// awaitBundle reads Proceed's first go-ahead, once: the bundle is written.
func (r *Runtime) awaitBundle(o *CreateOpts) error {
	if o.Proceed == nil || o.bundleReady {
		return nil
	}
	if err := awaitGoAhead(o.Proceed); err != nil {
		o.Proceed.Close()
		return err
	}
	o.bundleReady = true
	r.debug("bundle go-ahead received")
	return nil
}

// LoadSpec reads and parses <bundle>/config.json.
func LoadSpec(bundle string) (*specs.Spec, error) {
	s, _, err := loadSpecJSON(bundle)
	return s, err
}

// loadSpecJSON is LoadSpec also returning the file's bytes.
func loadSpecJSON(bundle string) (*specs.Spec, []byte, error) {
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("bundle %s: config.json not found", bundle)
		}
		return nil, nil, err
	}
	s, err := decodeSpec(b)
	if err != nil {
		return nil, nil, fmt.Errorf("bundle %s: malformed config.json: %w", bundle, err)
	}
	return s, b, nil
}

// linuxSpec is a spec whose sections for other platforms are kept undecoded: encoding/json builds
// a decoder (and an encoder) for every type a struct can reach the first time it decodes it,
// and those sections are many types a Linux runtime never reads.
type linuxSpec struct {
	specs.Spec
	Solaris json.RawMessage `json:"solaris,omitempty"`
	Windows json.RawMessage `json:"windows,omitempty"`
	VM      json.RawMessage `json:"vm,omitempty"`
	ZOS     json.RawMessage `json:"zos,omitempty"`
	FreeBSD json.RawMessage `json:"freebsd,omitempty"`
}

// decodeSpec parses a config.json (the sections for other platforms are ignored, as runc does).
func decodeSpec(b []byte) (*specs.Spec, error) {
	var s linuxSpec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, err
	}
	return &s.Spec, nil
}

// Create makes a container up to the "created" state: namespaces, cgroup, root filesystem, all
// ready, the init blocked until Start.
func (r *Runtime) Create(ctx context.Context, o CreateOpts) (_ *State, retErr error) {
	if err := ValidateID(o.ID); err != nil {
		return nil, err
	}
	bundle, err := filepath.Abs(o.Bundle)
	if err != nil {
		return nil, err
	}
	// The init's executable is sealed while the spec is read (the first JSON decoding of a spec
	// costs a millisecond or more: encoding/json builds its decoders) and checked.
	sealed := o.sealed
	if sealed == nil {
		sealed = sealedInit()
	}
	defer sealed.release()
	if err := r.awaitBundle(&o); err != nil {
		return nil, err
	}
	spec, specJSON := o.spec, o.specJSON
	if spec == nil {
		if spec, specJSON, err = loadSpecJSON(bundle); err != nil {
			return nil, err
		}
	}
	var rootfs string
	if spec.Root != nil {
		rootfs = spec.Root.Path
		if !filepath.IsAbs(rootfs) {
			rootfs = filepath.Join(bundle, rootfs)
		}
	}
	if err := Validate(spec, rootfs); err != nil {
		return nil, err
	}
	if rootfs, err = filepath.EvalSymlinks(rootfs); err != nil {
		return nil, err
	}
	if spec.Process.Terminal && o.ConsoleSocket == "" && o.console == nil {
		return nil, errors.New("cannot allocate tty if runtime will detach without setting console socket")
	}
	if !spec.Process.Terminal && o.ConsoleSocket != "" {
		return nil, errors.New("cannot use console socket if runtime will not detach or allocate tty")
	}
	if _, unknown, _ := caps.FromSpec(spec.Process.Capabilities); len(unknown) > 0 {
		r.warn("capabilities unknown to this kernel are ignored: %v", unknown)
	}
	if spec.Process.ApparmorProfile != "" || spec.Process.SelinuxLabel != "" || (spec.Linux != nil && spec.Linux.MountLabel != "") {
		r.warn("this kernel has no LSM enabled: apparmorProfile, selinuxLabel and mountLabel are ignored")
	}
	prog, warnings, err := seccomp.CompileCached(spec.Linux.Seccomp, r.seccompCache())
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		// A profile naming syscalls newer than libseccomp is the rule (Docker's names them):
		// runc says so only in its debug output, and so does this, not at every start.
		r.debug("%s", w)
	}

	r.debug("spec validated, seccomp compiled")
	if err := os.MkdirAll(r.Store.Root, 0o700); err != nil {
		return nil, err
	}
	if err := os.Chmod(r.Store.Root, 0o700); err != nil {
		return nil, err
	}
	dir := r.Store.dir(o.ID)
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("container %s: %w", o.ID, ErrExist)
		}
		return nil, err
	}
	cgPath := spec.Linux.CgroupsPath
	if cgPath == "" {
		cgPath = cgroup.DefaultPath(o.ID)
	}
	var cg cgroup.Manager // made by spawn, in the background
	defer func() {
		if retErr != nil {
			if cg != nil {
				cg.Destroy()
			}
			os.RemoveAll(dir)
		}
	}()

	r.debug("state directory made")
	fifoPath := filepath.Join(dir, fifoName)
	if err := unix.Mkfifo(fifoPath, 0o622); err != nil {
		return nil, fmt.Errorf("create exec fifo: %w", err)
	}
	// The init opens it for writing as the container's root, which is another host uid in a
	// user namespace: give it to that uid (and undo the umask).
	rootUID, rootGID := hostID(spec.Linux.UIDMappings, 0), hostID(spec.Linux.GIDMappings, 0)
	if err := os.Chown(fifoPath, rootUID, rootGID); err != nil {
		return nil, err
	}
	if err := os.Chmod(fifoPath, 0o622); err != nil {
		return nil, err
	}
	fifo, err := os.OpenFile(fifoPath, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer fifo.Close()
	extra := []*os.File{fifo}
	cfg := &initproc.Config{
		Mode: "create", Process: spec.Process, Spec: spec, Rootfs: rootfs, NoPivot: o.NoPivot,
		Seccomp: prog, FifoFd: initproc.SyncFd + 1,
		UTSNS: initproc.HasNS(spec, specs.UTSNamespace), MountNS: initproc.HasNS(spec, specs.MountNamespace),
		UserNS: initproc.HasNS(spec, specs.UserNamespace),
	}
	console := o.console
	if o.ConsoleSocket != "" {
		if console, err = dialConsole(o.ConsoleSocket); err != nil {
			return nil, err
		}
		defer console.Close()
	}
	if console != nil {
		extra = append(extra, console)
		cfg.ConsoleFd = initproc.SyncFd + 2
	}
	st := &State{
		ID: o.ID, Bundle: bundle, Rootfs: rootfs, Created: time.Now().UTC(), OwnerUID: os.Geteuid(),
		CgroupPath: cgPath, Annotations: spec.Annotations, Config: spec, configJSON: specJSON,
	}
	cfg.State = st.hookState(specs.StateCreating)

	var cloneflags uintptr
	var joins []nsJoin
	for _, ns := range spec.Linux.Namespaces {
		if ns.Path == "" {
			cloneflags |= nsFlags[ns.Type]
		} else {
			joins = append(joins, nsJoin{flag: nsFlags[ns.Type], path: ns.Path})
		}
	}
	proc, err := spawn(ctx, r.debug, spawnOpts{
		cfg: cfg, cloneflags: cloneflags, joins: joins,
		uidMaps: spec.Linux.UIDMappings, gidMaps: spec.Linux.GIDMappings,
		newCgroup: func() (cgroup.Manager, error) {
			return cgroup.New(cgPath, spec.Linux.Resources, spec.Linux.Devices, cgroupV1Paths(cgPath))
		},
		cgroupOut: &cg, resources: true, stdio: o.Stdio, extra: extra, hugetlb: hasHugetlb(spec), sealed: sealed,
		proceed: o.Proceed,
		onHooks: func(pid int) error {
			hs := cfg.State
			hs.Pid = pid
			if spec.Hooks == nil {
				return nil
			}
			//lint:ignore SA1019 prestart is deprecated but still part of the OCI spec and runc runs it
			if err := initproc.RunHooks(ctx, "prestart", spec.Hooks.Prestart, hs); err != nil {
				return err
			}
			return initproc.RunHooks(ctx, "createRuntime", spec.Hooks.CreateRuntime, hs)
		},
	})
	if err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			unix.Kill(proc.pid, unix.SIGKILL)
		}
	}()
	r.debug("init ready")
	if o.Proceed != nil {
		err := awaitGoAhead(o.Proceed)
		o.Proceed.Close()
		if err != nil {
			return nil, err
		}
		r.debug("create go-ahead received")
	}
	st.Pid = proc.pid
	st.StartTime, _ = processStartTime(proc.pid)
	st.CgroupPaths = cg.GetPaths()
	if err := r.Store.Save(st); err != nil {
		return nil, err
	}
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, proc.pid); err != nil {
			return nil, err
		}
	}
	return st, nil
}

func hasHugetlb(s *specs.Spec) bool {
	return s.Linux != nil && s.Linux.Resources != nil && len(s.Linux.Resources.HugepageLimits) > 0
}

// hostID maps a container id to the host through mappings (the identity without any).
func hostID(mappings []specs.LinuxIDMapping, id uint32) int {
	if len(mappings) == 0 {
		return int(id)
	}
	for _, m := range mappings {
		if id >= m.ContainerID && id-m.ContainerID < m.Size {
			return int(m.HostID + id - m.ContainerID)
		}
	}
	return int(id)
}

// ownerName names a uid for `state` and `list`; looked up when shown, not on every create.
func ownerName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return "#" + strconv.Itoa(uid)
}

func writePidFile(path string, pid int) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	// A pid means nothing after the machine restarts: atomic, but not synced (a sync is a
	// journal commit, milliseconds on the start path).
	return atomicfile.WriteFileNoSync(abs, []byte(strconv.Itoa(pid)), 0o644)
}

// Start releases a created container's init to exec the user's process.
func (r *Runtime) Start(ctx context.Context, id string) error {
	st, err := r.Store.Load(id)
	if err != nil {
		return err
	}
	return r.start(ctx, st)
}

// start is Start on a state already in hand (Run has it from Create).
func (r *Runtime) start(ctx context.Context, st *State) error {
	id := st.ID
	switch status := r.Store.Status(st); status {
	case Created:
	case Stopped:
		return errors.New("cannot start a container that has stopped")
	case Running, Paused:
		return errors.New("cannot start an already running container")
	default:
		return fmt.Errorf("cannot start a container in the %s state", status)
	}
	fifoPath := filepath.Join(r.Store.dir(id), fifoName)
	fd, err := unix.Open(fifoPath, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open exec fifo: %w", err)
	}
	defer unix.Close(fd)
	// The init opens the fifo for writing once it is ready; poll so that an init that died
	// meanwhile is noticed instead of blocking forever.
	for {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(pfd, 100)
		if err != nil && err != unix.EINTR {
			return fmt.Errorf("wait for init: %w", err)
		}
		if n > 0 && pfd[0].Revents&unix.POLLIN != 0 {
			var b [1]byte
			if n, _ := unix.Read(fd, b[:]); n == 1 {
				break
			}
		}
		if n > 0 && pfd[0].Revents&unix.POLLHUP != 0 {
			return errors.New("container init exited before it was started")
		}
		if !st.initAlive() {
			return errors.New("cannot start a container that has stopped")
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if err := os.Remove(fifoPath); err != nil {
		return err
	}
	// Wait for end-of-file: the init's write end closes when it execs the process. Until then
	// the init is still berth's code, and a signal sent by `kill` could be lost on it; poststart
	// hooks too must only run once the process is there.
	unix.SetNonblock(fd, false)
	var b [16]byte
	for {
		n, err := unix.Read(fd, b[:])
		if n <= 0 && err != unix.EINTR {
			break
		}
	}
	if h := st.Config.Hooks; h != nil {
		for _, err := range initproc.RunAllHooks(ctx, "poststart", h.Poststart, st.hookState(specs.StateRunning)) {
			r.warn("%v", err)
		}
	}
	return nil
}

// Kill sends sig to the container's init, or with all to every process of its cgroup.
func (r *Runtime) Kill(id string, sig unix.Signal, all bool) error {
	st, err := r.Store.Load(id)
	if err != nil {
		return err
	}
	if r.Store.Status(st) == Stopped && !all {
		return errors.New("container not running")
	}
	if !all {
		if err := unix.Kill(st.Pid, sig); err != nil {
			return fmt.Errorf("kill container %s: %w", id, err)
		}
		return nil
	}
	return signalAll(st, sig)
}

func signalAll(st *State, sig unix.Signal) error {
	m, err := cgroupOf(st)
	if err != nil {
		return err
	}
	if sig == unix.SIGKILL {
		// Freeze so that no process can fork away from the kill, then thaw so it is delivered.
		m.Freeze("FROZEN")
		defer m.Freeze("THAWED")
	}
	pids, err := m.GetAllPids()
	if err != nil {
		return err
	}
	for _, p := range pids {
		unix.Kill(p, sig)
	}
	return nil
}

// Delete removes a stopped (or, with force, any) container: its processes, cgroup and state.
func (r *Runtime) Delete(ctx context.Context, id string, force bool) error {
	st, err := r.Store.loadForDelete(id)
	if err != nil {
		if errors.Is(err, ErrNotExist) && ValidateID(id) == nil {
			// A create killed half-way leaves a directory without state: clear it.
			if _, serr := os.Stat(r.Store.dir(id)); serr == nil {
				return os.RemoveAll(r.Store.dir(id))
			}
		}
		return err
	}
	return r.delete(ctx, st, force)
}

// delete is Delete on a state already in hand.
func (r *Runtime) delete(ctx context.Context, st *State, force bool) error {
	id := st.ID
	status := r.Store.Status(st)
	switch status {
	case Running, Paused:
		if !force {
			return fmt.Errorf("cannot delete container %s that is not stopped: %s", id, status)
		}
	}
	if status != Stopped {
		if err := signalAll(st, unix.SIGKILL); err != nil && status == Created {
			unix.Kill(st.Pid, unix.SIGKILL)
		}
		if st.initAlive() {
			unix.Kill(st.Pid, unix.SIGKILL)
		}
		deadline := time.Now().Add(10 * time.Second)
		for st.initAlive() && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	r.debug("delete: processes gone")
	if m, err := cgroupOf(st); err == nil {
		// Processes that outlived init (shared pid namespace) die with their cgroup.
		if pids, _ := m.GetAllPids(); len(pids) > 0 {
			signalAll(st, unix.SIGKILL)
			deadline := time.Now().Add(5 * time.Second)
			for len(pids) > 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
				pids, _ = m.GetAllPids()
			}
		}
		if err := m.Destroy(); err != nil {
			r.warn("remove cgroup of %s: %v", id, err)
		}
	}
	r.debug("delete: cgroup removed")
	if h := st.Config.Hooks; h != nil {
		s := st.hookState(specs.StateStopped)
		for _, err := range initproc.RunAllHooks(ctx, "poststop", h.Poststop, s) {
			r.warn("%v", err)
		}
	}
	return os.RemoveAll(r.Store.dir(id))
}

// Pause freezes every process of the container.
func (r *Runtime) Pause(id string) error {
	st, m, err := r.cgroupFor(id)
	if err != nil {
		return err
	}
	if s := r.Store.Status(st); s != Running && s != Created {
		return fmt.Errorf("container not running")
	}
	return m.Freeze("FROZEN")
}

// Resume thaws a paused container.
func (r *Runtime) Resume(id string) error {
	st, m, err := r.cgroupFor(id)
	if err != nil {
		return err
	}
	if r.Store.Status(st) != Paused {
		return fmt.Errorf("container not paused")
	}
	return m.Freeze("THAWED")
}

// Pids lists the processes of the container.
func (r *Runtime) Pids(id string) ([]int, error) {
	_, m, err := r.cgroupFor(id)
	if err != nil {
		return nil, err
	}
	return m.GetAllPids()
}

// Stats reads the container's cgroup statistics.
func (r *Runtime) Stats(id string) (*cgroup.Stats, error) {
	_, m, err := r.cgroupFor(id)
	if err != nil {
		return nil, err
	}
	return m.GetStats()
}

func (r *Runtime) cgroupFor(id string) (*State, cgroup.Manager, error) {
	st, err := r.Store.Load(id)
	if err != nil {
		return nil, nil, err
	}
	m, err := cgroupOf(st)
	return st, m, err
}

func cgroupOf(st *State) (cgroup.Manager, error) {
	var res *specs.LinuxResources
	if st.Config != nil && st.Config.Linux != nil {
		res = st.Config.Linux.Resources
	}
	return cgroup.New(st.CgroupPath, res, nil, st.CgroupPaths)
}
