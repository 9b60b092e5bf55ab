package libct

import (
	"errors"
	"fmt"
	"github.com/berthproject/berth/internal/runtime/initproc"
	"os"
	"path/filepath"
	"strings"

	"github.com/berthproject/berth/internal/runtime/caps"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

var nsFlags = map[specs.LinuxNamespaceType]uintptr{
	specs.PIDNamespace:     unix.CLONE_NEWPID,
	specs.NetworkNamespace: unix.CLONE_NEWNET,
	specs.MountNamespace:   unix.CLONE_NEWNS,
	specs.IPCNamespace:     unix.CLONE_NEWIPC,
	specs.UTSNamespace:     unix.CLONE_NEWUTS,
	specs.UserNamespace:    unix.CLONE_NEWUSER,
	specs.CgroupNamespace:  unix.CLONE_NEWCGROUP,
}

// procNsName is the name of each namespace under /proc/<pid>/ns.
var procNsName = map[specs.LinuxNamespaceType]string{
	specs.PIDNamespace: "pid", specs.NetworkNamespace: "net", specs.MountNamespace: "mnt",
	specs.IPCNamespace: "ipc", specs.UTSNamespace: "uts", specs.UserNamespace: "user",
	specs.CgroupNamespace: "cgroup",
}

// Validate checks a spec before anything is made, so a bad config leaves nothing behind.
// rootfs is the resolved root directory.
func Validate(s *specs.Spec, rootfs string) error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if s.Root == nil || s.Root.Path == "" {
		bad("root.path is required")
	} else if fi, err := os.Stat(rootfs); err != nil {
		bad("rootfs (%s) does not exist", rootfs)
	} else if !fi.IsDir() {
		bad("rootfs (%s) is not a directory", rootfs)
	}
	if s.Process == nil {
		bad("process is required")
	} else {
		errs = append(errs, validateProcess(s.Process)...)
	}
	if s.Linux == nil {
		bad("linux section is required on Linux")
		return errors.Join(errs...)
	}
	seen := map[specs.LinuxNamespaceType]bool{}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == specs.TimeNamespace {
			bad("time namespaces are not supported")
			continue
		}
		if _, ok := nsFlags[ns.Type]; !ok {
			bad("unknown namespace type %q", ns.Type)
			continue
		}
		if seen[ns.Type] {
			bad("namespace %q is listed twice", ns.Type)
		}
		seen[ns.Type] = true
		if ns.Path != "" && !filepath.IsAbs(ns.Path) {
			bad("namespace %q path %q is not absolute", ns.Type, ns.Path)
		}
	}
	newUser := initproc.HasNewNS(s, specs.UserNamespace)
	if (len(s.Linux.UIDMappings) > 0 || len(s.Linux.GIDMappings) > 0) && !newUser {
		bad("uid/gid mappings given without a new user namespace")
	}
	if newUser && (len(s.Linux.UIDMappings) == 0 || len(s.Linux.GIDMappings) == 0) {
		bad("a new user namespace needs both uidMappings and gidMappings")
	}
	if s.Hostname != "" && !initproc.HasNS(s, specs.UTSNamespace) {
		bad("unable to set hostname without a private UTS namespace")
	}
	if s.Domainname != "" && !initproc.HasNS(s, specs.UTSNamespace) {
		bad("unable to set domainname without a private UTS namespace")
	}
	for k := range s.Linux.Sysctl {
		if err := validateSysctl(s, k); err != nil {
			errs = append(errs, err)
		}
	}
	for i, m := range s.Mounts {
		if !filepath.IsAbs(m.Destination) {
			bad("mounts[%d]: destination %q is not absolute", i, m.Destination)
		}
		if _, _, _, err := initproc.ParseMountOptions(m.Options); err != nil {
			bad("mounts[%d] (%s): %v", i, m.Destination, err)
		}
	}
	for _, d := range s.Linux.Devices {
		if !filepath.IsAbs(d.Path) {
			bad("device path %q is not absolute", d.Path)
		}
		switch d.Type {
		case "c", "u", "b", "p":
		default:
			bad("device %s: invalid type %q", d.Path, d.Type)
		}
	}
	for _, p := range append(append([]string{}, s.Linux.MaskedPaths...), s.Linux.ReadonlyPaths...) {
		if !filepath.IsAbs(p) {
			bad("masked or read-only path %q is not absolute", p)
		}
	}
	if _, ok := initproc.PropagationFlags[s.Linux.RootfsPropagation]; !ok {
		bad("invalid rootfsPropagation %q", s.Linux.RootfsPropagation)
	}
	if s.Linux.IntelRdt != nil {
		bad("intelRdt is not supported")
	}
	return errors.Join(errs...)
}

func validateProcess(p *specs.Process) []error {
	var errs []error
	if len(p.Args) == 0 && p.CommandLine == "" {
		errs = append(errs, errors.New("process.args must not be empty"))
	}
	if p.Cwd == "" || !filepath.IsAbs(p.Cwd) {
		errs = append(errs, fmt.Errorf("process.cwd %q must be an absolute path", p.Cwd))
	}
	for _, r := range p.Rlimits {
		if _, ok := initproc.RlimitNames[r.Type]; !ok {
			errs = append(errs, fmt.Errorf("rlimit %q is not a valid type", r.Type))
		} else if r.Soft > r.Hard {
			errs = append(errs, fmt.Errorf("rlimit %s: soft %d is above hard %d", r.Type, r.Soft, r.Hard))
		}
	}
	if _, _, err := caps.FromSpec(p.Capabilities); err != nil {
		errs = append(errs, err)
	}
	for _, e := range p.Env {
		if !strings.Contains(e, "=") {
			errs = append(errs, fmt.Errorf("env %q is not of the form KEY=VALUE", e))
		}
	}
	if p.IOPriority != nil {
		errs = append(errs, errors.New("process.ioPriority is not supported"))
	}
	if p.Scheduler != nil {
		errs = append(errs, errors.New("process.scheduler is not supported"))
	}
	return errs
}

// validateSysctl admits only sysctls that live in a namespace the container has of its own.
func validateSysctl(s *specs.Spec, key string) error {
	ipc := map[string]bool{"kernel.msgmax": true, "kernel.msgmnb": true, "kernel.msgmni": true, "kernel.sem": true,
		"kernel.shmall": true, "kernel.shmmax": true, "kernel.shmmni": true, "kernel.shm_rmid_forced": true}
	switch {
	case ipc[key] || strings.HasPrefix(key, "fs.mqueue."):
		if initproc.HasNS(s, specs.IPCNamespace) {
			return nil
		}
		return fmt.Errorf("sysctl %q is not allowed in the host's IPC namespace", key)
	case strings.HasPrefix(key, "net."):
		if initproc.HasNS(s, specs.NetworkNamespace) {
			return nil
		}
		return fmt.Errorf("sysctl %q is not allowed in the host's network namespace", key)
	case key == "kernel.hostname" || key == "kernel.domainname":
		if initproc.HasNS(s, specs.UTSNamespace) {
			return nil
		}
		return fmt.Errorf("sysctl %q is not allowed in the host's UTS namespace", key)
	}
	if strings.Contains(key, "/") || strings.Contains(key, "..") {
		return fmt.Errorf("sysctl %q is not a valid name", key)
	}
	return fmt.Errorf("sysctl %q is not in a separate kernel namespace", key)
}
