package main

import (
	"encoding/json"
	"fmt"
	"github.com/berthproject/berth/internal/signals"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/berthproject/berth/internal/runtime/libct"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

type createFlags struct {
	bundle, pidFile, consoleSocket string
	noPivot, noNewKeyring          bool
	preserveFds                    int
	proceedFd                      int
}

func (c *createFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVarP(&c.bundle, "bundle", "b", ".", "path to the root of the bundle directory")
	f.StringVar(&c.pidFile, "pid-file", "", "file to write the process id to")
	f.StringVar(&c.consoleSocket, "console-socket", "", "unix socket to send the pty master to")
	f.BoolVar(&c.noPivot, "no-pivot", false, "do not use pivot_root (for a root on a ramdisk)")
	f.BoolVar(&c.noNewKeyring, "no-new-keyring", false, "accepted for runc compatibility")
	f.IntVar(&c.preserveFds, "preserve-fds", 0, "accepted for runc compatibility; must be 0")
	f.IntVar(&c.proceedFd, "proceed-fd", 0, "berth: wait on this fd for a byte before reading the spec, another before starting the container's init and a third before the create is complete (EOF cancels)")
}

func (c *createFlags) opts(id string) (libct.CreateOpts, error) {
	if c.preserveFds != 0 {
		return libct.CreateOpts{}, fmt.Errorf("--preserve-fds is not supported")
	}
	o := libct.CreateOpts{ID: id, Bundle: c.bundle, PidFile: c.pidFile, ConsoleSocket: c.consoleSocket, NoPivot: c.noPivot, Stdio: stdio()}
	if c.proceedFd > 2 {
		unix.CloseOnExec(c.proceedFd) // for the runtime alone: never the container's or a hook's
		o.Proceed = os.NewFile(uintptr(c.proceedFd), "proceed")
	} else if c.proceedFd != 0 {
		return libct.CreateOpts{}, fmt.Errorf("--proceed-fd must be above 2, not %d", c.proceedFd)
	}
	return o, nil
}

func createCmd(g *globals) *cobra.Command {
	var c createFlags
	cmd := &cobra.Command{
		Use: "create [flags] <container-id>", Short: "create a container", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := c.opts(args[0])
			if err != nil {
				return err
			}
			_, err = g.runtime().Create(ctx(), o)
			return err
		},
	}
	c.register(cmd)
	return cmd
}

func runCmd(g *globals) *cobra.Command {
	var c createFlags
	var detach bool
	cmd := &cobra.Command{
		Use: "run [flags] <container-id>", Short: "create and start a container", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := c.opts(args[0])
			if err != nil {
				return err
			}
			code, err := g.runtime().Run(ctx(), o, detach)
			if err != nil {
				return err
			}
			if code != 0 {
				return exitCode(code)
			}
			return nil
		},
	}
	c.register(cmd)
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "detach from the container's process")
	return cmd
}

func startCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "start <container-id>", Short: "start a created container", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return g.runtime().Start(ctx(), args[0]) },
	}
}

func stateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "state <container-id>", Short: "print the state of a container as JSON", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rt := g.runtime()
			st, err := rt.Store.Load(args[0])
			if err != nil {
				return err
			}
			return printJSON(rt.Store.OCI(st))
		},
	}
}

func printJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(append(b, '\n'))
	return err
}

func killCmd(g *globals) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use: "kill [--all] <container-id> [signal]", Short: "send a signal to a container's init", Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			sig := unix.SIGTERM
			if len(args) == 2 {
				s, err := signals.Parse(args[1])
				if err != nil {
					return err
				}
				sig = s
			}
			return g.runtime().Kill(args[0], sig, all)
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "signal every process of the container")
	return cmd
}

func deleteCmd(g *globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use: "delete [--force] <container-id>", Short: "delete a container", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return g.runtime().Delete(ctx(), args[0], force) },
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "kill the container first if it is running")
	return cmd
}

func pauseCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "pause <container-id>", Short: "freeze every process of a container", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return g.runtime().Pause(args[0]) },
	}
}

func resumeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "resume <container-id>", Short: "thaw a paused container", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return g.runtime().Resume(args[0]) },
	}
}

func psCmd(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use: "ps [--format table|json] <container-id> [ps options]", Short: "list a container's processes", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pids, err := g.runtime().Pids(args[0])
			if err != nil {
				return err
			}
			if format == "json" {
				if pids == nil {
					pids = []int{}
				}
				return printJSON(pids)
			}
			if format != "table" {
				return fmt.Errorf("invalid format %q", format)
			}
			psArgs := args[1:]
			if len(psArgs) == 0 {
				psArgs = []string{"-ef"}
			}
			out, err := exec.Command("ps", psArgs...).Output()
			if err != nil {
				return fmt.Errorf("ps: %w", err)
			}
			lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
			pidCol := -1
			for i, h := range strings.Fields(lines[0]) {
				if h == "PID" {
					pidCol = i
				}
			}
			if pidCol < 0 {
				return fmt.Errorf("ps output has no PID column")
			}
			in := map[int]bool{}
			for _, p := range pids {
				in[p] = true
			}
			fmt.Println(lines[0])
			for _, l := range lines[1:] {
				f := strings.Fields(l)
				if len(f) > pidCol {
					if p, err := strconv.Atoi(f[pidCol]); err == nil && in[p] {
						fmt.Println(l)
					}
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "table", "table or json")
	cmd.Flags().SetInterspersed(false)
	return cmd
}

func listCmd(g *globals) *cobra.Command {
	var format string
	var quiet bool
	cmd := &cobra.Command{
		Use: "list", Aliases: []string{"ls"}, Short: "list containers", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			rt := g.runtime()
			ids, err := rt.Store.IDs()
			if err != nil {
				return err
			}
			var states []libct.OCIState
			for _, id := range ids {
				if st, err := rt.Store.Load(id); err == nil {
					states = append(states, rt.Store.OCI(st))
				}
			}
			switch {
			case quiet:
				for _, s := range states {
					fmt.Println(s.ID)
				}
			case format == "json":
				if states == nil {
					states = []libct.OCIState{}
				}
				return printJSON(states)
			case format == "table":
				w := tabwriter.NewWriter(os.Stdout, 12, 1, 3, ' ', 0)
				fmt.Fprint(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n")
				for _, s := range states {
					fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", s.ID, s.Pid, s.Status, s.Bundle, s.Created.Format(time.RFC3339Nano), s.Owner)
				}
				return w.Flush()
			default:
				return fmt.Errorf("invalid format %q", format)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "table", "table or json")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the ids")
	return cmd
}
