package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/docker/go-units"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"
)

// updateCmd is runc's `update`: new limits from a JSON LinuxResources file (-r, "-" for stdin)
// and/or flags, applied to the running container's cgroup.
func updateCmd(g *globals) *cobra.Command {
	var resourcesFile string
	var memory, memorySwap, memoryReservation, cpuQuota, cpuRtRuntime, pidsLimit string
	var cpuShares, cpuPeriod, cpuRtPeriod, blkioWeight string
	var cpusetCpus, cpusetMems string
	cmd := &cobra.Command{
		Use: "update [flags] <container-id>", Short: "update a container's resource limits", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res := &specs.LinuxResources{}
			if resourcesFile != "" {
				var r io.Reader = os.Stdin
				if resourcesFile != "-" {
					f, err := os.Open(resourcesFile)
					if err != nil {
						return err
					}
					defer f.Close()
					r = f
				}
				if err := json.NewDecoder(r).Decode(res); err != nil {
					return fmt.Errorf("decode resources: %w", err)
				}
			}
			mem := func() *specs.LinuxMemory {
				if res.Memory == nil {
					res.Memory = &specs.LinuxMemory{}
				}
				return res.Memory
			}
			cpu := func() *specs.LinuxCPU {
				if res.CPU == nil {
					res.CPU = &specs.LinuxCPU{}
				}
				return res.CPU
			}
			for _, f := range []struct {
				val  string
				size bool
				set  func(int64)
			}{
				{memory, true, func(v int64) { mem().Limit = &v }},
				{memorySwap, true, func(v int64) { mem().Swap = &v }},
				{memoryReservation, true, func(v int64) { mem().Reservation = &v }},
				{cpuQuota, false, func(v int64) { cpu().Quota = &v }},
				{cpuRtRuntime, false, func(v int64) { cpu().RealtimeRuntime = &v }},
				{pidsLimit, false, func(v int64) { res.Pids = &specs.LinuxPids{Limit: &v} }},
				{cpuShares, false, func(v int64) { u := uint64(v); cpu().Shares = &u }},
				{cpuPeriod, false, func(v int64) { u := uint64(v); cpu().Period = &u }},
				{cpuRtPeriod, false, func(v int64) { u := uint64(v); cpu().RealtimePeriod = &u }},
				{blkioWeight, false, func(v int64) { w := uint16(v); res.BlockIO = &specs.LinuxBlockIO{Weight: &w} }},
			} {
				if f.val == "" {
					continue
				}
				var v int64
				var err error
				switch {
				case f.val == "-1":
					v = -1
				case f.size:
					v, err = units.RAMInBytes(f.val)
				default:
					v, err = strconv.ParseInt(f.val, 10, 64)
				}
				if err != nil {
					return fmt.Errorf("invalid value %q: %w", f.val, err)
				}
				f.set(v)
			}
			if cpusetCpus != "" {
				cpu().Cpus = cpusetCpus
			}
			if cpusetMems != "" {
				cpu().Mems = cpusetMems
			}
			return g.runtime().Update(args[0], res)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&resourcesFile, "resources", "r", "", `path to a JSON file of linux resources ("-" for stdin)`)
	fl.StringVarP(&memory, "memory", "m", "", "memory limit (in bytes, or with a unit suffix)")
	fl.StringVar(&memorySwap, "memory-swap", "", "memory plus swap limit (-1 for unlimited)")
	fl.StringVar(&memoryReservation, "memory-reservation", "", "memory soft limit")
	fl.StringVar(&cpuQuota, "cpu-quota", "", "CPU CFS quota in microseconds")
	fl.StringVar(&cpuPeriod, "cpu-period", "", "CPU CFS period in microseconds")
	fl.StringVar(&cpuRtRuntime, "cpu-rt-runtime", "", "CPU realtime runtime in microseconds")
	fl.StringVar(&cpuRtPeriod, "cpu-rt-period", "", "CPU realtime period in microseconds")
	fl.StringVar(&cpuShares, "cpu-share", "", "CPU shares (relative weight)")
	fl.StringVar(&pidsLimit, "pids-limit", "", "maximum number of pids (-1 for unlimited)")
	fl.StringVar(&blkioWeight, "blkio-weight", "", "block IO weight (10-1000)")
	fl.StringVar(&cpusetCpus, "cpuset-cpus", "", "CPUs the container may use")
	fl.StringVar(&cpusetMems, "cpuset-mems", "", "memory nodes the container may use")
	return cmd
}
