package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/berthproject/berth/internal/runtime/libct"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"
)

func execCmd(g *globals) *cobra.Command {
	var (
		processPath, cwd, userSpec, pidFile, consoleSocket, apparmor, label string
		env, capsAdd                                                        []string
		addGids                                                             []int
		tty, detach, noNewPrivs, ignorePaused                               bool
		preserveFds                                                         int
	)
	cmd := &cobra.Command{
		Use:   "exec [flags] <container-id> [command [args...]]",
		Short: "run another process inside a running container",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rt := g.runtime()
			id := args[0]
			if preserveFds != 0 {
				return fmt.Errorf("--preserve-fds is not supported")
			}
			var p *specs.Process
			if processPath != "" {
				b, err := os.ReadFile(processPath)
				if err != nil {
					return err
				}
				p = &specs.Process{}
				if err := json.Unmarshal(b, p); err != nil {
					return fmt.Errorf("malformed process file %s: %w", processPath, err)
				}
			} else {
				if len(args) < 2 {
					return fmt.Errorf("exec: no command given (use --process or arguments)")
				}
				def, err := rt.DefaultExecProcess(id)
				if err != nil {
					return err
				}
				p = def
				p.Args = args[1:]
				p.Env = append(append([]string{}, p.Env...), env...)
				if cwd != "" {
					p.Cwd = cwd
				}
				if userSpec != "" {
					u, gid, hasGid := strings.Cut(userSpec, ":")
					uid, err := strconv.ParseUint(u, 10, 32)
					if err != nil {
						return fmt.Errorf("invalid --user %q: numeric uid[:gid] expected", userSpec)
					}
					p.User.UID = uint32(uid)
					if hasGid {
						gv, err := strconv.ParseUint(gid, 10, 32)
						if err != nil {
							return fmt.Errorf("invalid --user %q: numeric uid[:gid] expected", userSpec)
						}
						p.User.GID = uint32(gv)
					}
				}
				for _, ag := range addGids {
					p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(ag))
				}
				if len(capsAdd) > 0 {
					c := p.Capabilities
					if c == nil {
						c = &specs.LinuxCapabilities{}
					}
					c.Bounding = append(c.Bounding, capsAdd...)
					c.Effective = append(c.Effective, capsAdd...)
					c.Permitted = append(c.Permitted, capsAdd...)
					p.Capabilities = c
				}
				p.Terminal = tty
				if noNewPrivs {
					p.NoNewPrivileges = true
				}
			}
			if apparmor != "" || label != "" {
				rt.Warn("this kernel has no LSM enabled: --apparmor and --process-label are ignored")
			}
			o := libct.ExecOpts{Process: p, PidFile: pidFile, ConsoleSocket: consoleSocket, Stdio: stdio()}
			if detach {
				if p.Terminal && consoleSocket == "" {
					return fmt.Errorf("cannot allocate tty if runtime will detach without setting console socket")
				}
				_, err := rt.Exec(ctx(), id, o)
				return err
			}
			code, err := rt.ExecForeground(ctx(), id, o)
			if err != nil {
				return err
			}
			if code != 0 {
				return exitCode(code)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	f.StringVarP(&processPath, "process", "p", "", "path to a process.json")
	f.StringVar(&cwd, "cwd", "", "current working directory in the container")
	f.StringArrayVarP(&env, "env", "e", nil, "set an environment variable")
	f.BoolVarP(&tty, "tty", "t", false, "allocate a pseudo-TTY")
	f.StringVarP(&userSpec, "user", "u", "", "uid[:gid] to run as")
	f.IntSliceVarP(&addGids, "additional-gids", "g", nil, "additional gids")
	f.StringArrayVarP(&capsAdd, "cap", "c", nil, "add a capability")
	f.BoolVarP(&detach, "detach", "d", false, "detach from the process")
	f.StringVar(&pidFile, "pid-file", "", "file to write the process id to")
	f.StringVar(&consoleSocket, "console-socket", "", "unix socket to send the pty master to")
	f.StringVar(&apparmor, "apparmor", "", "apparmor profile (ignored: no LSM)")
	f.StringVar(&label, "process-label", "", "SELinux label (ignored: no LSM)")
	f.BoolVar(&noNewPrivs, "no-new-privs", false, "set no_new_privs")
	f.BoolVar(&ignorePaused, "ignore-paused", false, "accepted for runc compatibility")
	f.IntVar(&preserveFds, "preserve-fds", 0, "accepted for runc compatibility; must be 0")
	return cmd
}
