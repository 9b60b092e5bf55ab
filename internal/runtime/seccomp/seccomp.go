// Package seccomp compiles the seccomp section of an OCI spec into a BPF program with libseccomp,
// in the runtime; the container's init loads it with one syscall (package filter), so the init
// path never runs or links the compiler.
package seccomp

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/berthproject/berth/internal/runtime/seccomp/filter"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// Program is a compiled filter, loaded in the container by filter.Load.
type Program = filter.Program

// Compile builds the filter. Syscall names unknown to this libseccomp but real on some kernel are
// skipped and returned as warnings; names no kernel knows are an error.
func Compile(s *specs.LinuxSeccomp) (*Program, []string, error) {
	if s == nil {
		return nil, nil, nil
	}
	if s.ListenerPath != "" {
		return nil, nil, errors.New("seccomp: listenerPath (user notification) is not supported")
	}
	def, err := action(s.DefaultAction, s.DefaultErrnoRet)
	if err != nil {
		return nil, nil, fmt.Errorf("seccomp defaultAction: %w", err)
	}
	f, err := libseccomp.NewFilter(def)
	if err != nil {
		return nil, nil, fmt.Errorf("seccomp: new filter: %w", err)
	}
	defer f.Release()
	// The init sets no_new_privs itself when the spec asks for it.
	if err := f.SetNoNewPrivsBit(false); err != nil {
		return nil, nil, fmt.Errorf("seccomp: %w", err)
	}
	// A binary tree of syscall numbers instead of a linear list: the same decisions, but each
	// syscall walks a few dozen instructions instead of up to a thousand. That matters at every
	// start too: loading the filter, the kernel runs it for every syscall number to build its
	// allow cache (about 1 ms for Docker's profile as a list). libseccomp before 2.5 has no
	// such option and keeps the list.
	_ = f.SetOptimize(2)
	for _, a := range s.Architectures {
		arch, err := libseccomp.GetArchFromString(strings.TrimPrefix(strings.ToLower(string(a)), "scmp_arch_"))
		if err != nil {
			return nil, nil, fmt.Errorf("seccomp: architecture %q: %w", a, err)
		}
		if err := f.AddArch(arch); err != nil {
			return nil, nil, fmt.Errorf("seccomp: add architecture %q: %w", a, err)
		}
	}
	var prog Program
	for _, fl := range s.Flags {
		switch fl {
		case specs.LinuxSeccompFlagLog:
			prog.Flags |= unix.SECCOMP_FILTER_FLAG_LOG
		case specs.LinuxSeccompFlagSpecAllow:
			prog.Flags |= unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW
		case specs.LinuxSeccompFlagWaitKillableRecv:
			// Only meaningful with user notification, which is refused above.
		case "SECCOMP_FILTER_FLAG_TSYNC":
			prog.Flags |= unix.SECCOMP_FILTER_FLAG_TSYNC
		default:
			return nil, nil, fmt.Errorf("seccomp: unknown flag %q", fl)
		}
	}
	var warnings []string
	for i, rule := range s.Syscalls {
		act, err := action(rule.Action, rule.ErrnoRet)
		if err != nil {
			return nil, nil, fmt.Errorf("seccomp syscalls[%d]: %w", i, err)
		}
		if act == def {
			continue // libseccomp refuses rules equal to the default, and they change nothing
		}
		conds, split, err := conditions(rule.Args)
		if err != nil {
			return nil, nil, fmt.Errorf("seccomp syscalls[%d]: %w", i, err)
		}
		for _, name := range rule.Names {
			call, err := libseccomp.GetSyscallFromName(name)
			if err != nil {
				if _, real := knownSyscalls[name]; real {
					warnings = append(warnings, fmt.Sprintf("seccomp: syscall %q is unknown to libseccomp %s, rule skipped", name, libVersion()))
					continue
				}
				return nil, nil, fmt.Errorf("seccomp: unknown syscall %q", name)
			}
			switch {
			case len(conds) == 0:
				err = f.AddRule(call, act)
			case split:
				// Several conditions on one argument mean "any of them" (runc's reading of a
				// profile); libseccomp wants that as one rule per condition.
				for _, c := range conds {
					if err = f.AddRuleConditional(call, act, []libseccomp.ScmpCondition{c}); err != nil {
						break
					}
				}
			default:
				err = f.AddRuleConditional(call, act, conds)
			}
			if err != nil {
				return nil, nil, fmt.Errorf("seccomp: rule for %q: %w", name, err)
			}
		}
	}
	bpf, err := exportBPF(f)
	if err != nil {
		return nil, nil, fmt.Errorf("seccomp: export filter: %w", err)
	}
	prog.BPF = bpf
	return &prog, warnings, nil
}

func libVersion() string {
	a, b, c := libseccomp.GetLibraryVersion()
	return fmt.Sprintf("%d.%d.%d", a, b, c)
}

func action(a specs.LinuxSeccompAction, errnoRet *uint) (libseccomp.ScmpAction, error) {
	ret := int16(unix.EPERM)
	if errnoRet != nil {
		ret = int16(*errnoRet)
	}
	switch a {
	case specs.ActKill, specs.ActKillThread:
		return libseccomp.ActKillThread, nil
	case specs.ActKillProcess:
		return libseccomp.ActKillProcess, nil
	case specs.ActTrap:
		return libseccomp.ActTrap, nil
	case specs.ActErrno:
		return libseccomp.ActErrno.SetReturnCode(ret), nil
	case specs.ActTrace:
		return libseccomp.ActTrace.SetReturnCode(ret), nil
	case specs.ActAllow:
		return libseccomp.ActAllow, nil
	case specs.ActLog:
		return libseccomp.ActLog, nil
	case specs.ActNotify:
		return 0, errors.New("SCMP_ACT_NOTIFY is not supported")
	}
	return 0, fmt.Errorf("unknown action %q", a)
}

var ops = map[specs.LinuxSeccompOperator]libseccomp.ScmpCompareOp{
	specs.OpNotEqual:     libseccomp.CompareNotEqual,
	specs.OpLessThan:     libseccomp.CompareLess,
	specs.OpLessEqual:    libseccomp.CompareLessOrEqual,
	specs.OpEqualTo:      libseccomp.CompareEqual,
	specs.OpGreaterEqual: libseccomp.CompareGreaterEqual,
	specs.OpGreaterThan:  libseccomp.CompareGreater,
	specs.OpMaskedEqual:  libseccomp.CompareMaskedEqual,
}

// conditions converts the argument checks; split reports that one argument is checked twice.
func conditions(args []specs.LinuxSeccompArg) (conds []libseccomp.ScmpCondition, split bool, err error) {
	seen := map[uint]bool{}
	for _, a := range args {
		op, ok := ops[a.Op]
		if !ok {
			return nil, false, fmt.Errorf("unknown operator %q", a.Op)
		}
		if a.Index > 5 {
			return nil, false, fmt.Errorf("argument index %d out of range 0-5", a.Index)
		}
		var c libseccomp.ScmpCondition
		if op == libseccomp.CompareMaskedEqual {
			c, err = libseccomp.MakeCondition(a.Index, op, a.Value, a.ValueTwo)
		} else {
			c, err = libseccomp.MakeCondition(a.Index, op, a.Value)
		}
		if err != nil {
			return nil, false, err
		}
		split = split || seen[a.Index]
		seen[a.Index] = true
		conds = append(conds, c)
	}
	return conds, split, nil
}

// exportBPF returns the compiled program. libseccomp before 2.6 can only write it to a file
// descriptor, so it goes through an anonymous memfd there.
func exportBPF(f *libseccomp.ScmpFilter) ([]byte, error) {
	if b, err := f.ExportBPFMem(); err == nil {
		return b, nil
	}
	fd, err := unix.MemfdCreate("seccomp-bpf", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	mem := os.NewFile(uintptr(fd), "seccomp-bpf")
	defer mem.Close()
	if err := f.ExportBPF(mem); err != nil {
		return nil, err
	}
	if _, err := mem.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return io.ReadAll(mem)
}
