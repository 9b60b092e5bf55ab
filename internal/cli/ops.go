package cli

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	ctypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// opsCmds are the commands acting on existing containers.
func opsCmds(e *env) []*cobra.Command {
	return []*cobra.Command{pauseCmd(e), unpauseCmd(e), renameCmd(e), restartCmd(e), topCmd(e), updateCmd(e),
		portCmd(e), statsCmd(e), eventsCmd(e)}
}

func pauseCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use: "pause CONTAINER [CONTAINER...]", Short: "Pause all processes within one or more containers", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return eachContainer(e, args, func(c *client.Client, ref string) error {
				_, err := c.ContainerPause(cmd.Context(), ref, client.ContainerPauseOptions{})
				return err
			})
		},
	}
}

func unpauseCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use: "unpause CONTAINER [CONTAINER...]", Short: "Unpause all processes within one or more containers", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return eachContainer(e, args, func(c *client.Client, ref string) error {
				_, err := c.ContainerUnpause(cmd.Context(), ref, client.ContainerUnpauseOptions{})
				return err
			})
		},
	}
}

func renameCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use: "rename CONTAINER NEW_NAME", Short: "Rename a container", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			newName := strings.TrimSpace(args[1])
			if args[0] == "" || newName == "" {
				return statusError{status: 1, err: errors.New("Error: Neither old nor new names may be empty")}
			}
			if _, err := c.ContainerRename(cmd.Context(), args[0], client.ContainerRenameOptions{NewName: newName}); err != nil {
				return statusError{status: 1, err: errors.New(explain(err, e.host) + "\nError: failed to rename container named " + args[0])}
			}
			return nil
		},
	}
}

func restartCmd(e *env) *cobra.Command {
	var timeout int
	var signal string
	cmd := &cobra.Command{
		Use: "restart [OPTIONS] CONTAINER [CONTAINER...]", Short: "Restart one or more containers", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := client.ContainerRestartOptions{Signal: signal}
			if cmd.Flags().Changed("timeout") {
				opts.Timeout = &timeout
			}
			return eachContainer(e, args, func(c *client.Client, ref string) error {
				_, err := c.ContainerRestart(cmd.Context(), ref, opts)
				return err
			})
		},
	}
	cmd.Flags().IntVarP(&timeout, "timeout", "t", 0, "Seconds to wait before killing the container")
	cmd.Flags().StringVarP(&signal, "signal", "s", "", "Signal to send to the container")
	return cmd
}

func topCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use: "top CONTAINER [ps OPTIONS]", Short: "Display the running processes of a container", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			res, err := c.ContainerTop(cmd.Context(), args[0], client.ContainerTopOptions{Arguments: args[1:]})
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(e.out, 20, 1, 3, ' ', 0)
			fmt.Fprintln(w, strings.Join(res.Titles, "\t"))
			for _, p := range res.Processes {
				fmt.Fprintln(w, strings.Join(p, "\t"))
			}
			return w.Flush()
		},
	}
	cmd.Flags().SetInterspersed(false) // ps's own options follow the container
	return cmd
}

func updateCmd(e *env) *cobra.Command {
	var memory, memoryReservation memBytes
	memorySwap := memBytes{allowUnlimited: true}
	var cpus nanoCPUs
	var cpuShares, cpuPeriod, cpuQuota, cpuRtPeriod, cpuRtRuntime, pidsLimit int64
	var blkioWeight uint16
	var cpusetCpus, cpusetMems, restart string
	cmd := &cobra.Command{
		Use: "update [OPTIONS] CONTAINER [CONTAINER...]", Short: "Update configuration of one or more containers", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().NFlag() == 0 {
				return statusError{status: 125, err: errors.New("you must provide one or more flags when using this command")}
			}
			res := &ctypes.Resources{
				Memory: memory.value, MemorySwap: memorySwap.value, MemoryReservation: memoryReservation.value,
				NanoCPUs: cpus.value, CPUShares: cpuShares, CPUPeriod: cpuPeriod, CPUQuota: cpuQuota,
				CPURealtimePeriod: cpuRtPeriod, CPURealtimeRuntime: cpuRtRuntime, BlkioWeight: blkioWeight,
				CpusetCpus: cpusetCpus, CpusetMems: cpusetMems,
			}
			if cmd.Flags().Changed("pids-limit") {
				res.PidsLimit = &pidsLimit
			}
			opts := client.ContainerUpdateOptions{Resources: res}
			if cmd.Flags().Changed("restart") {
				p, err := parseRestartPolicy(restart)
				if err != nil {
					return statusError{status: 125, err: err}
				}
				opts.RestartPolicy = &p
			}
			return eachContainer(e, args, func(c *client.Client, ref string) error {
				r, err := c.ContainerUpdate(cmd.Context(), ref, opts)
				for _, w := range r.Warnings {
					fmt.Fprintln(e.errOut, w)
				}
				return err
			})
		},
	}
	f := cmd.Flags()
	f.Uint16Var(&blkioWeight, "blkio-weight", 0, "Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)")
	f.Int64Var(&cpuPeriod, "cpu-period", 0, "Limit CPU CFS (Completely Fair Scheduler) period")
	f.Int64Var(&cpuQuota, "cpu-quota", 0, "Limit CPU CFS (Completely Fair Scheduler) quota")
	f.Int64Var(&cpuRtPeriod, "cpu-rt-period", 0, "Limit the CPU real-time period in microseconds")
	f.Int64Var(&cpuRtRuntime, "cpu-rt-runtime", 0, "Limit the CPU real-time runtime in microseconds")
	f.Int64VarP(&cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	f.Var(&cpus, "cpus", "Number of CPUs")
	f.StringVar(&cpusetCpus, "cpuset-cpus", "", "CPUs in which to allow execution (0-3, 0,1)")
	f.StringVar(&cpusetMems, "cpuset-mems", "", "MEMs in which to allow execution (0-3, 0,1)")
	f.VarP(&memory, "memory", "m", "Memory limit")
	f.Var(&memoryReservation, "memory-reservation", "Memory soft limit")
	f.Var(&memorySwap, "memory-swap", "Swap limit equal to memory plus swap: -1 to enable unlimited swap")
	f.Int64Var(&pidsLimit, "pids-limit", 0, "Tune container pids limit (set -1 for unlimited)")
	f.StringVar(&restart, "restart", "", "Restart policy to apply when a container exits")
	return cmd
}

func portCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use: "port CONTAINER [PRIVATE_PORT[/PROTO]]", Short: "List port mappings or a specific mapping for the container", Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			res, err := c.ContainerInspect(cmd.Context(), args[0], client.ContainerInspectOptions{})
			if err != nil {
				return err
			}
			var ports network.PortMap
			if res.Container.NetworkSettings != nil {
				ports = res.Container.NetworkSettings.Ports
			}
			if len(args) == 2 {
				want := args[1]
				if !strings.Contains(want, "/") {
					want += "/tcp"
				}
				p, err := network.ParsePort(want)
				if err != nil {
					return statusError{status: 1, err: fmt.Errorf("Error: invalid port (%s): %w", args[1], err)}
				}
				bindings, ok := ports[p]
				if !ok || len(bindings) == 0 {
					return statusError{status: 1, err: fmt.Errorf("Error: No public port '%s' published for %s", args[1], args[0])}
				}
				for _, b := range bindings {
					fmt.Fprintln(e.out, hostPort(b))
				}
				return nil
			}
			var lines []string
			for p, bindings := range ports {
				for _, b := range bindings {
					lines = append(lines, p.String()+" -> "+hostPort(b))
				}
			}
			sort.Strings(lines)
			for _, l := range lines {
				fmt.Fprintln(e.out, l)
			}
			return nil
		},
	}
}

func hostPort(b network.PortBinding) string {
	ip := "0.0.0.0"
	if b.HostIP.IsValid() {
		ip = b.HostIP.String()
	}
	if strings.Contains(ip, ":") {
		return "[" + ip + "]:" + b.HostPort
	}
	return ip + ":" + b.HostPort
}
