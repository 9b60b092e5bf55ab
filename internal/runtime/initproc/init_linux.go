package initproc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"github.com/berthproject/berth/internal/runtime/caps"
	"github.com/berthproject/berth/internal/runtime/seccomp/filter"
	"golang.org/x/sys/unix"
)

// IsInit reports whether this process was started by spawn as a container's init.
func IsInit() bool { return os.Getenv("_BERTH_INIT_FD") != "" }

// Main is the Go half of a container's init. The namespaces are already in place (nsenter);
// this finishes the container and execs the user's process. It never returns.
func Main() {
	runtime.LockOSThread() // capabilities, no_new_privs and seccomp are per thread: exec from this one
	sock := os.NewFile(SyncFd, "init-sync")
	enc, dec := json.NewEncoder(sock), json.NewDecoder(sock)
	fail := func(err error) {
		enc.Encode(SyncMsg{Type: "error", Message: err.Error()})
		os.Exit(1)
	}
	var cfg Config
	if err := dec.Decode(&cfg); err != nil {
		os.Exit(1) // the runtime went away
	}
	os.Unsetenv("_BERTH_INIT_FD")
	if cfg.UnshareCgroup {
		// Per thread, like the rest of what init does: this locked thread is the one that execs.
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			fail(fmt.Errorf("create cgroup namespace: %w", err))
		}
	}
	ic := &initCtx{cfg: &cfg, enc: enc, dec: dec}
	path, err := ic.setup()
	if err != nil {
		fail(err)
	}
	if err := enc.Encode(SyncMsg{Type: "ready"}); err != nil {
		os.Exit(1)
	}
	sock.Close()
	if cfg.Mode == "create" {
		if err := waitForStart(cfg.FifoFd); err != nil {
			fmt.Fprintf(os.Stderr, "berth-runtime init: %v\n", err)
			os.Exit(1)
		}
		if h := cfg.Spec.Hooks; h != nil {
			st := cfg.State
			st.Status = "running"
			if err := RunHooks(ic.ctx(), "startContainer", h.StartContainer, st); err != nil {
				fmt.Fprintf(os.Stderr, "berth-runtime init: %v\n", err)
				os.Exit(1)
			}
		}
	}
	if err := ic.finalize(); err != nil {
		fmt.Fprintf(os.Stderr, "berth-runtime init: %v\n", err)
		os.Exit(1)
	}
	err = unix.Exec(path, cfg.Process.Args, cfg.Process.Env)
	fmt.Fprintf(os.Stderr, "berth-runtime init: exec %s: %v\n", cfg.Process.Args[0], err)
	switch {
	case errors.Is(err, unix.ENOENT):
		os.Exit(127)
	default:
		os.Exit(126)
	}
}

type initCtx struct {
	cfg *Config
	enc *json.Encoder
	dec *json.Decoder
}

// setup does everything that can fail visibly (so create reports it) and returns the resolved
// executable path.
func (ic *initCtx) setup() (string, error) {
	cfg := ic.cfg
	p := cfg.Process
	if cfg.Mode == "create" {
		if err := ic.prepareRootfs(); err != nil {
			return "", err
		}
		if cfg.UTSNS {
			if cfg.Spec.Hostname != "" {
				if err := unix.Sethostname([]byte(cfg.Spec.Hostname)); err != nil {
					return "", fmt.Errorf("sethostname: %w", err)
				}
			}
			if cfg.Spec.Domainname != "" {
				if err := unix.Setdomainname([]byte(cfg.Spec.Domainname)); err != nil {
					return "", fmt.Errorf("setdomainname: %w", err)
				}
			}
		}
	}
	if p.Terminal {
		if err := ic.setupConsole(); err != nil {
			return "", err
		}
	}
	if cfg.Mode == "create" {
		if err := ic.finishRootfs(); err != nil {
			return "", err
		}
	}
	os.Clearenv()
	for _, kv := range p.Env {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	// Looked up now, with the container's PATH and root, so create fails as runc's does.
	path, err := exec.LookPath(p.Args[0])
	if err != nil {
		return "", err
	}
	return path, nil
}

// hooks asks the runtime to run prestart and createRuntime hooks, then runs createContainer
// hooks here, in the container's namespaces, before pivot_root.
func (ic *initCtx) hooks() error {
	h := ic.cfg.Spec.Hooks
	//lint:ignore SA1019 prestart is deprecated but still part of the OCI spec and still run
	if h == nil || len(h.Prestart)+len(h.CreateRuntime)+len(h.CreateContainer) == 0 {
		return nil // no round trip to the runtime for nothing
	}
	if err := ic.enc.Encode(SyncMsg{Type: "hooks"}); err != nil {
		return err
	}
	var m SyncMsg
	if err := ic.dec.Decode(&m); err != nil {
		return err
	}
	if m.Type != "hooks-done" {
		return fmt.Errorf("unexpected message %q", m.Type)
	}
	ic.cfg.State.Pid = m.Pid
	if h := ic.cfg.Spec.Hooks; h != nil {
		return RunHooks(ic.ctx(), "createContainer", h.CreateContainer, ic.cfg.State)
	}
	return nil
}

// waitForStart blocks until `start` opens exec.fifo for reading. The write end stays open,
// close-on-exec, so `start` sees end-of-file exactly when the user's process has been exec'd
// (or the init died): poststart hooks then run after the process really started.
func waitForStart(fifoFd int) error {
	fd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(fifoFd), unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open exec fifo: %w", err)
	}
	if _, err := unix.Write(fd, []byte("0")); err != nil {
		return fmt.Errorf("write exec fifo: %w", err)
	}
	unix.Close(fifoFd)
	return nil
}

// finalize applies the process attributes, in the order that keeps each step permitted:
// limits, then seccomp while CAP_SYS_ADMIN is held (unless no_new_privs makes it unneeded),
// then the user, then the capability sets, then the working directory.
func (ic *initCtx) finalize() error {
	p := ic.cfg.Process
	for _, rl := range p.Rlimits {
		lim := unix.Rlimit{Cur: rl.Soft, Max: rl.Hard}
		if err := unix.Setrlimit(RlimitNames[rl.Type], &lim); err != nil {
			return fmt.Errorf("setrlimit %s: %w", rl.Type, err)
		}
	}
	if p.OOMScoreAdj != nil {
		// Lowering the score needs CAP_SYS_RESOURCE, which some hosts withhold even from root:
		// such a refusal is not fatal (Docker behaves the same).
		err := os.WriteFile("/proc/self/oom_score_adj", []byte(strconv.Itoa(*p.OOMScoreAdj)), 0)
		if err != nil && !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EACCES) {
			return fmt.Errorf("set oom_score_adj: %w", err)
		}
	}
	if p.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("set no_new_privs: %w", err)
		}
	}
	if !p.NoNewPrivileges {
		if err := filter.Load(ic.cfg.Seccomp); err != nil {
			return err
		}
	}
	sets, _, err := caps.FromSpec(p.Capabilities)
	if err != nil {
		return err
	}
	if p.Capabilities != nil {
		if err := caps.DropBounding(sets.Bounding); err != nil {
			return err
		}
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("set keepcaps: %w", err)
	}
	if err := setupUser(p.User.UID, p.User.GID, p.User.AdditionalGids, ic.cfg.UserNS); err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("clear keepcaps: %w", err)
	}
	if err := caps.Apply(sets); err != nil {
		return err
	}
	if p.User.Umask != nil {
		unix.Umask(int(*p.User.Umask))
	} else {
		unix.Umask(0o022)
	}
	if err := unix.Chdir(p.Cwd); err != nil {
		return fmt.Errorf("chdir to cwd (%q) set in config.json failed: %w", p.Cwd, err)
	}
	// CVE-2024-21626: a cwd reached through a leaked host fd lies outside the container's root.
	if wd, err := unix.Getwd(); err != nil || !strings.HasPrefix(wd, "/") {
		return fmt.Errorf("current working directory is outside of container mount namespace root")
	}
	if p.NoNewPrivileges {
		if err := filter.Load(ic.cfg.Seccomp); err != nil {
			return err
		}
	}
	return closeExtraFds()
}

func setupUser(uid, gid uint32, groups []uint32, userNS bool) error {
	// setgroups may be denied in a user namespace whose creator wrote "deny"; only try when asked.
	if !userNS || len(groups) > 0 {
		gs := make([]int, len(groups))
		for i, g := range groups {
			gs[i] = int(g)
		}
		if err := unix.Setgroups(gs); err != nil {
			return fmt.Errorf("setgroups: %w", err)
		}
	}
	if err := unix.Setresgid(int(gid), int(gid), int(gid)); err != nil {
		return fmt.Errorf("setgid %d: %w", gid, err)
	}
	if err := unix.Setresuid(int(uid), int(uid), int(uid)); err != nil {
		return fmt.Errorf("setuid %d: %w", uid, err)
	}
	return nil
}

// closeExtraFds marks every fd above stdio close-on-exec, so nothing of the runtime (nor a host
// directory fd, CVE-2024-21626) reaches the container's process.
func closeExtraFds() error {
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err == nil {
		return nil
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return err
	}
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			unix.CloseOnExec(fd)
		}
	}
	return nil
}

func (ic *initCtx) ctx() context.Context { return context.Background() }
