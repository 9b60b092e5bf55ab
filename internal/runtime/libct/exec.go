package libct

import (
	"context"
	"errors"
	"github.com/berthproject/berth/internal/runtime/initproc"
	"os"
	"strconv"

	"github.com/berthproject/berth/internal/runtime/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ExecOpts are the inputs of Exec.
type ExecOpts struct {
	Process       *specs.Process
	PidFile       string
	ConsoleSocket string
	Stdio         [3]*os.File
	console       *os.File
}

// DefaultExecProcess is the process `exec` starts when only arguments are given: the container's
// own process settings with other args, as runc does.
func (r *Runtime) DefaultExecProcess(id string) (*specs.Process, error) {
	st, err := r.Store.Load(id)
	if err != nil {
		return nil, err
	}
	p := *st.Config.Process
	p.Terminal = false
	p.ConsoleSize = nil
	return &p, nil
}

// Exec starts another process inside a running container and returns its pid (a child of the
// caller).
func (r *Runtime) Exec(ctx context.Context, id string, o ExecOpts) (int, error) {
	st, err := r.Store.Load(id)
	if err != nil {
		return 0, err
	}
	switch r.Store.Status(st) {
	case Running, Created:
	case Paused:
		return 0, errors.New("cannot exec in a paused container")
	default:
		return 0, errors.New("cannot exec in a stopped container")
	}
	if errs := validateProcess(o.Process); len(errs) > 0 {
		return 0, errors.Join(errs...)
	}
	if o.Process.Terminal && o.ConsoleSocket == "" && o.console == nil {
		return 0, errors.New("cannot allocate tty if runtime will detach without setting console socket")
	}
	spec := st.Config
	prog, warnings, err := seccomp.CompileCached(spec.Linux.Seccomp, r.seccompCache())
	if err != nil {
		return 0, err
	}
	for _, w := range warnings {
		// A profile naming syscalls newer than libseccomp is the rule (Docker's names them):
		// runc says so only in its debug output, and so does this, not at every start.
		r.debug("%s", w)
	}
	var joins []nsJoin
	for _, ns := range spec.Linux.Namespaces {
		joins = append(joins, nsJoin{flag: nsFlags[ns.Type], path: "/proc/" + strconv.Itoa(st.Pid) + "/ns/" + procNsName[ns.Type]})
	}
	cg, err := cgroupOf(st)
	if err != nil {
		return 0, err
	}
	cfg := &initproc.Config{Mode: "exec", Process: o.Process, Seccomp: prog, State: st.hookState(specs.StateRunning), UserNS: initproc.HasNS(spec, specs.UserNamespace)}
	var extra []*os.File
	console := o.console
	if o.ConsoleSocket != "" {
		if console, err = dialConsole(o.ConsoleSocket); err != nil {
			return 0, err
		}
		defer console.Close()
	}
	if console != nil && o.Process.Terminal {
		extra = append(extra, console)
		cfg.ConsoleFd = initproc.SyncFd + 1
	}
	proc, err := spawn(ctx, r.debug, spawnOpts{cfg: cfg, joins: joins, cgroup: cg, hugetlb: hasHugetlb(spec), stdio: o.Stdio, extra: extra})
	if err != nil {
		return 0, err
	}
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, proc.pid); err != nil {
			unix.Kill(proc.pid, unix.SIGKILL)
			return 0, err
		}
	}
	return proc.pid, nil
}
