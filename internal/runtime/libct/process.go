package libct

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/berthproject/berth/internal/runtime/initproc"

	"github.com/berthproject/berth/internal/runtime/cgroup"
	"github.com/berthproject/berth/internal/runtime/exeseal"
	"github.com/berthproject/berth/internal/runtime/nsenter"
	"github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

type nsJoin struct {
	flag uintptr
	path string
}

// spawnOpts describe one process to start inside (new or existing) namespaces.
type spawnOpts struct {
	cfg        *initproc.Config
	cloneflags uintptr
	joins      []nsJoin
	uidMaps    []specs.LinuxIDMapping
	gidMaps    []specs.LinuxIDMapping
	cgroup     cgroup.Manager
	// newCgroup (create) makes the cgroup manager in the background, while the init starts;
	// spawn stores it in cgroupOut, also when it fails (so the caller can remove what was made).
	newCgroup func() (cgroup.Manager, error)
	cgroupOut *cgroup.Manager
	resources bool // apply the cgroup's resources (create), or only join it (exec)
	hugetlb   bool // the container has hugepage limits
	stdio     [3]*os.File
	extra     []*os.File // handed over as fds 4, 5, ...
	// onHooks runs prestart and createRuntime hooks once the init asks (create only).
	onHooks func(pid int) error
	// sealed is the init's executable, being prepared (see sealInit); spawn releases it.
	sealed *pendingExe
	// proceed, when given, is waited on (one go-ahead) before the init is started (see
	// CreateOpts.Proceed).
	proceed *os.File
}

// errCancelled is a create given up by its caller before it was complete.
var errCancelled = errors.New("the start was cancelled before the container was created")

// awaitGoAhead reads a go-ahead byte: EOF (the caller gave up) cancels.
func awaitGoAhead(f *os.File) error {
	if n, _ := f.Read(make([]byte, 1)); n != 1 {
		return errCancelled
	}
	return nil
}

// pendingExe is the sealed view of the init's executable (exeseal), prepared in the background
// while the caller reads and checks the spec: two detached mounts that need not wait for it.
type pendingExe struct {
	done  chan struct{}
	path  string
	f     *os.File
	err   error
	taken bool
}

// sealedAhead is the init's executable sealed by Prepare, for the next container.
var sealedAhead *pendingExe

// Prepare does ahead of need what the next Run or Create would otherwise do first, for a
// runtime started before its command line is known (berth-runtime --args-fd): it seals the
// init's executable, reads the cgroup v1 hierarchies (see v1Hierarchies), and builds the spec's
// decoders (encoding/json builds a decoder for every type the first time it meets it: a
// millisecond for a spec).
func Prepare() {
	sealedAhead = sealInit()
	prepareCgroupV1()
	if b, err := DefaultSpecJSON(); err == nil {
		if s, err := decodeSpec(b); err == nil {
			// What a daemon's spec has beyond the default one.
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Architectures: []specs.Arch{specs.ArchX86_64},
				Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpEqualTo}}}}}
			s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/"}}}
			if b, err := json.Marshal(s); err == nil {
				decodeSpec(b)
				encodeState(&State{configJSON: b}) // and the state's encoder
			}
		}
	}
}

// sealedInit is the executable Prepare sealed, else one sealed now.
func sealedInit() *pendingExe {
	if p := sealedAhead; p != nil {
		sealedAhead = nil
		return p
	}
	return sealInit()
}

func sealInit() *pendingExe {
	p := &pendingExe{done: make(chan struct{}), path: initBinary()}
	go func() {
		p.f, p.err = exeseal.Open(p.path)
		close(p.done)
	}()
	return p
}

// take waits for the executable; the caller must release it.
func (p *pendingExe) take() (*os.File, string, error) {
	<-p.done
	return p.f, p.path, p.err
}

// release closes the executable (once it is ready).
func (p *pendingExe) release() {
	if p == nil || p.taken {
		return
	}
	p.taken = true
	<-p.done
	if p.f != nil {
		p.f.Close()
	}
}

// spawned is a process the runtime started; it is the runtime's child (directly, or through
// CLONE_PARENT when nsexec had to fork it).
type spawned struct {
	pid int
}

// spawn starts berth-runtime's init from a sealed copy of the binary, walks it through the
// bootstrap (namespaces, id maps, cgroup), then hands it either a plan for the C init or the
// JSON config of the Go init, until it reports ready.
func spawn(ctx context.Context, debug func(string, ...any), o spawnOpts) (_ *spawned, retErr error) {
	if o.sealed == nil {
		o.sealed = sealedInit()
	}
	defer o.sealed.release()
	// Finding the hierarchies, creating cgroup directories and writing limits is slow on cgroup
	// v1 (one hierarchy per controller): do it while the init is being exec'd, and only add the
	// pid afterwards. o.cgroup is only read once waitCgroup has returned.
	cgReady := make(chan error, 1)
	if o.newCgroup != nil || (o.cgroup != nil && o.resources) {
		go func() {
			var err error
			if o.newCgroup != nil {
				o.cgroup, err = o.newCgroup()
			}
			if err == nil && o.resources {
				if err = o.cgroup.Apply(-1); err == nil {
					var cg *cgroups.Cgroup
					if cg, err = o.cgroup.GetCgroups(); err == nil {
						err = o.cgroup.Set(cg.Resources)
					}
				}
				if err != nil {
					err = fmt.Errorf("apply cgroup resources: %w", err)
				}
			}
			cgReady <- err
		}()
	} else {
		cgReady <- nil
	}
	waitCgroup := sync.OnceValue(func() error {
		err := <-cgReady
		if o.cgroupOut != nil {
			*o.cgroupOut = o.cgroup
		}
		return err
	})
	defer func() {
		if retErr != nil {
			waitCgroup() // nothing may still be creating directories when the caller cleans up
		}
	}()
	exe, initPath, err := o.sealed.take()
	debug("sealed executable ready")
	if err != nil {
		return nil, err
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	parent := os.NewFile(uintptr(fds[0]), "init-sync-parent")
	child := os.NewFile(uintptr(fds[1]), "init-sync-child")
	defer parent.Close()

	// syscall.ForkExec rather than os/exec: os.StartProcess first probes pidfd support by
	// cloning a throwaway child, a fork the container's start does not need to pay for.
	files := []uintptr{0, 0, 0, child.Fd()}
	for i, f := range o.stdio {
		if f == nil {
			null, err := os.Open(os.DevNull)
			if err != nil {
				child.Close()
				return nil, err
			}
			defer null.Close()
			f = null
		}
		files[i] = f.Fd()
	}
	for _, f := range o.extra {
		files = append(files, f.Fd())
	}
	// The child's fds are put in place by dup2 before the exec, and fds below them may be moved
	// up to 2*len(files): exec the sealed file through a number none of that can reach (it may
	// be low, having been opened early).
	exeFd, err := unix.FcntlInt(exe.Fd(), unix.F_DUPFD_CLOEXEC, 2*len(files)+3)
	if err != nil {
		child.Close()
		return nil, fmt.Errorf("start init: %w", err)
	}
	defer unix.Close(exeFd)
	// A new PID namespace is made by the clone itself when nothing has to be joined first (a user
	// namespace must own it, a joined one must be entered): the init is then pid 1 at once, and
	// no intermediate process has to fork, exit and be reaped (reaping costs the kernel a walk of
	// /proc's dentries on a host with many of them).
	pidAtClone := o.cloneflags&unix.CLONE_NEWPID != 0 && o.cloneflags&unix.CLONE_NEWUSER == 0
	for _, j := range o.joins {
		pidAtClone = pidAtClone && j.flag != unix.CLONE_NEWUSER && j.flag != unix.CLONE_NEWPID
	}
	attr := &syscall.ProcAttr{Env: []string{"_BERTH_INIT_FD=" + strconv.Itoa(initproc.SyncFd), "GOGC=off"}, Files: files}
	if pidAtClone {
		attr.Sys = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWPID}
	}
	if o.proceed != nil {
		if err := awaitGoAhead(o.proceed); err != nil { // the namespaces
			child.Close()
			return nil, err
		}
		debug("init go-ahead received")
	}
	first, err := syscall.ForkExec("/proc/self/fd/"+strconv.Itoa(exeFd), []string{filepath.Base(initPath), "init"}, attr)
	if errors.Is(err, unix.EACCES) && !exeseal.IsSealed(exe) {
		// Seen once in thousands of starts, not understood: the kernel refused to execute the
		// read-only overlayfs view of the init. A sealed memfd copy is as safe; it costs a copy.
		debug("start init: %v executing %s: retrying with a sealed copy", err, exe.Name())
		first, err = forkExecSealedCopy(initPath, attr)
	}
	child.Close()
	runtime.KeepAlive(o.stdio)
	runtime.KeepAlive(o.extra)
	if err != nil {
		return nil, fmt.Errorf("start init (%s): %w", exe.Name(), err)
	}
	debug("init started")
	firstReaped := false
	// waitFirst reaps the first process (the one exec'd) once.
	waitFirst := func() (unix.WaitStatus, error) {
		var ws unix.WaitStatus
		if firstReaped {
			return ws, unix.ECHILD
		}
		firstReaped = true
		_, err := unix.Wait4(first, &ws, 0, nil)
		return ws, err
	}
	final := 0
	defer func() {
		if retErr != nil {
			if final > 0 {
				unix.Kill(final, unix.SIGKILL)
				var ws unix.WaitStatus
				unix.Wait4(final, &ws, 0, nil)
				firstReaped = firstReaped || final == first
			}
			if !firstReaped {
				unix.Kill(first, unix.SIGKILL)
				waitFirst()
			}
		}
	}()

	// On cgroup v1 the init joins its cgroups itself, first thing (see nsexec.c for why); on v2
	// the runtime moves it once it has reported its final pid, and the init creates its cgroup
	// namespace only then (the namespace's root is the cgroup the process is in at that moment).
	if err := waitCgroup(); err != nil {
		return nil, err
	}
	debug("cgroup ready")
	var selfJoin, unifiedDirs []string
	cloneflags := o.cloneflags
	if pidAtClone {
		cloneflags &^= unix.CLONE_NEWPID
	}
	if o.cgroup != nil && !cgroup.V2() {
		selfJoin, unifiedDirs = cgroupDirs(o.cgroup)
	} else if o.cgroup != nil {
		o.cfg.UnshareCgroup = cloneflags&unix.CLONE_NEWCGROUP != 0
		cloneflags &^= unix.CLONE_NEWCGROUP
	}
	if err := writeBootstrap(parent, cloneflags, o.joins, selfJoin); err != nil {
		return nil, err
	}
	// Encode the Go init's configuration while its namespaces are being made, unless the C init
	// will most likely take the container.
	var cfgJSON []byte
	tryC := cinitEligible(o.cfg)
	if !tryC {
		if cfgJSON, err = json.Marshal(o.cfg); err != nil {
			return nil, err
		}
	}
	forked := o.cloneflags&unix.CLONE_NEWPID != 0 && !pidAtClone
	for _, j := range o.joins {
		forked = forked || j.flag == unix.CLONE_NEWPID
	}
	// Bootstrap replies: 'U' (write my id maps), 'P' + pid, or 'E' + message.
	for final == 0 {
		var b [1]byte
		if _, err := io.ReadFull(parent, b[:]); err != nil {
			return nil, initExitError(waitFirst, "init exited during bootstrap")
		}
		switch b[0] {
		case 'U':
			if err := writeIDMaps(first, o.uidMaps, o.gidMaps); err != nil {
				return nil, err
			}
			if _, err := parent.Write([]byte{'u'}); err != nil {
				return nil, fmt.Errorf("init bootstrap: %w", err)
			}
		case 'P':
			var p uint32
			if err := binary.Read(parent, binary.NativeEndian, &p); err != nil {
				return nil, fmt.Errorf("init bootstrap: read pid: %w", err)
			}
			final = int(p)
			if pidAtClone {
				final = first // it reported its own pid as its namespace sees it: 1
			}
		case 'E':
			var n uint32
			if err := binary.Read(parent, binary.NativeEndian, &n); err != nil || n > 4096 {
				return nil, errors.New("init bootstrap: malformed error")
			}
			msg := make([]byte, n)
			io.ReadFull(parent, msg)
			return nil, errors.New(string(msg))
		default:
			return nil, fmt.Errorf("init bootstrap: unexpected byte %q", b[0])
		}
	}

	debug("namespaces ready, pid %d", final)
	if o.cgroup != nil && selfJoin == nil {
		if err := o.cgroup.Apply(final); err != nil {
			return nil, fmt.Errorf("join cgroup: %w", err)
		}
		debug("cgroup joined")
	}
	if o.hugetlb {
		// A hybrid host's cgroup2 mount holds hugetlb: join it only when limits need it, since a
		// whole-process move there costs a grace period.
		for _, d := range unifiedDirs {
			if err := cgroups.WriteCgroupProc(d, final); err != nil {
				return nil, fmt.Errorf("join cgroup %s: %w", d, err)
			}
		}
	}
	if plan, ok := cinitPlan(o.cfg, final); ok {
		// The C init finishes the container: no Go runtime starts in it.
		msg := binary.NativeEndian.AppendUint32([]byte{'C'}, uint32(len(plan)))
		if _, err := parent.Write(append(msg, plan...)); err != nil {
			return nil, fmt.Errorf("send init plan: %w", err)
		}
		if forked {
			waitFirst()
		}
		debug("init plan sent (C init)")
		return waitCInit(parent, final)
	}
	if cfgJSON == nil {
		if cfgJSON, err = json.Marshal(o.cfg); err != nil {
			return nil, err
		}
	}
	enc, dec := json.NewEncoder(parent), json.NewDecoder(parent)
	if _, err := parent.Write(append(append([]byte{'G'}, cfgJSON...), '\n')); err != nil {
		return nil, fmt.Errorf("send init config: %w", err)
	}
	if forked {
		// The intermediate process exits as soon as it has reported the pid: reap it.
		waitFirst()
	}
	for {
		var m initproc.SyncMsg
		if err := dec.Decode(&m); err != nil {
			return nil, waitError(final, "init exited before it was ready")
		}
		switch m.Type {
		case "hooks":
			reply := initproc.SyncMsg{Type: "hooks-done", Pid: final}
			if o.onHooks != nil {
				if err := o.onHooks(final); err != nil {
					return nil, err
				}
			}
			if err := enc.Encode(reply); err != nil {
				return nil, err
			}
		case "ready":
			return &spawned{pid: final}, nil
		case "error":
			return nil, errors.New(m.Message)
		default:
			return nil, fmt.Errorf("init: unexpected message %q", m.Type)
		}
	}
}

// waitCInit reads the C init's answer: 'R' once the container is created, or 'E' and a message.
func waitCInit(parent *os.File, pid int) (*spawned, error) {
	var b [1]byte
	if _, err := io.ReadFull(parent, b[:]); err != nil {
		return nil, waitError(pid, "init exited before it was ready")
	}
	switch b[0] {
	case 'R':
		return &spawned{pid: pid}, nil
	case 'E':
		var n uint32
		if err := binary.Read(parent, binary.NativeEndian, &n); err != nil || n > 4096 {
			return nil, errors.New("init: malformed error")
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(parent, msg); err != nil {
			return nil, errors.New("init: malformed error")
		}
		return nil, errors.New(string(msg))
	}
	return nil, fmt.Errorf("init: unexpected reply %q", b[0])
}

// initBinary is berth-runtime-init beside the running binary, or the running binary itself,
// which can serve as its own init (slower: it loads the whole runtime).
func initBinary() string {
	self, err := os.Executable()
	if err != nil {
		return "/proc/self/exe"
	}
	lean := filepath.Join(filepath.Dir(self), "berth-runtime-init")
	if fi, err := os.Stat(lean); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
		return lean
	}
	return self
}

// cgroupDirs lists the distinct directories of a cgroup v1 manager: those of v1 hierarchies (with
// a "tasks" file) and those on a hybrid host's cgroup2 mount.
func cgroupDirs(m cgroup.Manager) (v1, unified []string) {
	seen := map[string]bool{}
	for _, d := range m.GetPaths() {
		if d == "" || seen[d] {
			continue
		}
		seen[d] = true
		if _, err := os.Stat(filepath.Join(d, "tasks")); err == nil {
			v1 = append(v1, d)
		} else {
			unified = append(unified, d)
		}
	}
	return v1, unified
}

func writeBootstrap(w io.Writer, cloneflags uintptr, joins []nsJoin, cgroupDirs []string) error {
	buf := binary.NativeEndian.AppendUint32(nil, nsenter.BootstrapMagic)
	buf = binary.NativeEndian.AppendUint32(buf, uint32(cloneflags))
	buf = binary.NativeEndian.AppendUint32(buf, uint32(len(joins)))
	for _, j := range joins {
		buf = binary.NativeEndian.AppendUint32(buf, uint32(j.flag))
		buf = binary.NativeEndian.AppendUint32(buf, uint32(len(j.path)))
		buf = append(buf, j.path...)
	}
	buf = binary.NativeEndian.AppendUint32(buf, uint32(len(cgroupDirs)))
	for _, d := range cgroupDirs {
		buf = binary.NativeEndian.AppendUint32(buf, uint32(len(d)))
		buf = append(buf, d...)
	}
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("send bootstrap: %w", err)
	}
	return nil
}

func writeIDMaps(pid int, uids, gids []specs.LinuxIDMapping) error {
	format := func(ms []specs.LinuxIDMapping) []byte {
		var sb strings.Builder
		for _, m := range ms {
			fmt.Fprintf(&sb, "%d %d %d\n", m.ContainerID, m.HostID, m.Size)
		}
		return []byte(sb.String())
	}
	dir := "/proc/" + strconv.Itoa(pid) + "/"
	if err := os.WriteFile(dir+"uid_map", format(uids), 0); err != nil {
		return fmt.Errorf("write uid_map: %w", err)
	}
	if err := os.WriteFile(dir+"gid_map", format(gids), 0); err != nil {
		return fmt.Errorf("write gid_map: %w", err)
	}
	return nil
}

func initExitError(wait func() (unix.WaitStatus, error), what string) error {
	ws, err := wait()
	switch {
	case err != nil:
		return errors.New(what)
	case ws.Signaled():
		return fmt.Errorf("%s: signal: %v", what, ws.Signal())
	case ws.ExitStatus() != 0:
		return fmt.Errorf("%s: exit status %d", what, ws.ExitStatus())
	}
	return errors.New(what)
}

func waitError(pid int, what string) error {
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, 0, nil); err == nil {
		if ws.Signaled() {
			return fmt.Errorf("%s: killed by %v", what, ws.Signal())
		}
		return fmt.Errorf("%s: exit status %d", what, ws.ExitStatus())
	}
	return errors.New(what)
}

// forkExecSealedCopy starts the init from a sealed memfd copy of its executable.
func forkExecSealedCopy(initPath string, attr *syscall.ProcAttr) (int, error) {
	mem, err := exeseal.Copy(initPath)
	if err != nil {
		return 0, err
	}
	defer mem.Close()
	fd, err := unix.FcntlInt(mem.Fd(), unix.F_DUPFD_CLOEXEC, 2*len(attr.Files)+3)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	return syscall.ForkExec("/proc/self/fd/"+strconv.Itoa(fd), []string{filepath.Base(initPath), "init"}, attr)
}
