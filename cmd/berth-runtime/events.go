package main

import (
	"time"

	"github.com/berthproject/berth/internal/runtime/cgroup"
	"github.com/opencontainers/cgroups"
	"github.com/spf13/cobra"
)

// The shapes below are runc's `events` output (runc/types/events.go), which tools that drive a
// runtime parse; berth-runtime prints the same keys.

type event struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Data any    `json:"data,omitempty"`
}

type statsData struct {
	CPU     cpuStats           `json:"cpu"`
	Memory  memoryStats        `json:"memory"`
	Pids    pidsStats          `json:"pids"`
	Blkio   blkioStats         `json:"blkio"`
	Hugetlb map[string]hugetlb `json:"hugetlb"`
}

type cpuUsage struct {
	Total        uint64   `json:"total,omitempty"`
	Percpu       []uint64 `json:"percpu,omitempty"`
	PercpuKernel []uint64 `json:"percpu_kernel,omitempty"`
	PercpuUser   []uint64 `json:"percpu_user,omitempty"`
	Kernel       uint64   `json:"kernel"`
	User         uint64   `json:"user"`
}

type throttling struct {
	Periods          uint64 `json:"periods,omitempty"`
	ThrottledPeriods uint64 `json:"throttledPeriods,omitempty"`
	ThrottledTime    uint64 `json:"throttledTime,omitempty"`
}

type cpuStats struct {
	Usage      cpuUsage   `json:"usage"`
	Throttling throttling `json:"throttling"`
}

type memoryEntry struct {
	Limit   uint64 `json:"limit"`
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}

type memoryStats struct {
	Cache     uint64            `json:"cache,omitempty"`
	Usage     memoryEntry       `json:"usage"`
	Swap      memoryEntry       `json:"swap"`
	Kernel    memoryEntry       `json:"kernel"`
	KernelTCP memoryEntry       `json:"kernelTCP"`
	Raw       map[string]uint64 `json:"raw,omitempty"`
}

type pidsStats struct {
	Current uint64 `json:"current,omitempty"`
	Limit   uint64 `json:"limit,omitempty"`
}

type blkioEntry struct {
	Major uint64 `json:"major,omitempty"`
	Minor uint64 `json:"minor,omitempty"`
	Op    string `json:"op,omitempty"`
	Value uint64 `json:"value,omitempty"`
}

type blkioStats struct {
	IoServiceBytesRecursive []blkioEntry `json:"ioServiceBytesRecursive,omitempty"`
	IoServicedRecursive     []blkioEntry `json:"ioServicedRecursive,omitempty"`
	IoQueuedRecursive       []blkioEntry `json:"ioQueueRecursive,omitempty"`
	IoServiceTimeRecursive  []blkioEntry `json:"ioServiceTimeRecursive,omitempty"`
	IoWaitTimeRecursive     []blkioEntry `json:"ioWaitTimeRecursive,omitempty"`
	IoMergedRecursive       []blkioEntry `json:"ioMergedRecursive,omitempty"`
	IoTimeRecursive         []blkioEntry `json:"ioTimeRecursive,omitempty"`
	SectorsRecursive        []blkioEntry `json:"sectorsRecursive,omitempty"`
}

type hugetlb struct {
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}

func convertStats(s *cgroup.Stats) statsData {
	mem := func(d cgroups.MemoryData) memoryEntry {
		return memoryEntry{Limit: d.Limit, Usage: d.Usage, Max: d.MaxUsage, Failcnt: d.Failcnt}
	}
	entries := func(in []cgroups.BlkioStatEntry) []blkioEntry {
		out := make([]blkioEntry, 0, len(in))
		for _, e := range in {
			out = append(out, blkioEntry{Major: e.Major, Minor: e.Minor, Op: e.Op, Value: e.Value})
		}
		return out
	}
	m := s.MemoryStats
	out := statsData{
		CPU: cpuStats{
			Usage: cpuUsage{
				Total: s.CpuStats.CpuUsage.TotalUsage, Percpu: s.CpuStats.CpuUsage.PercpuUsage,
				PercpuKernel: s.CpuStats.CpuUsage.PercpuUsageInKernelmode, PercpuUser: s.CpuStats.CpuUsage.PercpuUsageInUsermode,
				Kernel: s.CpuStats.CpuUsage.UsageInKernelmode, User: s.CpuStats.CpuUsage.UsageInUsermode,
			},
			Throttling: throttling{
				Periods: s.CpuStats.ThrottlingData.Periods, ThrottledPeriods: s.CpuStats.ThrottlingData.ThrottledPeriods,
				ThrottledTime: s.CpuStats.ThrottlingData.ThrottledTime,
			},
		},
		Memory: memoryStats{
			Cache: m.Cache, Raw: m.Stats,
			Usage:     mem(m.Usage),
			Swap:      mem(m.SwapUsage),
			Kernel:    mem(m.KernelUsage),
			KernelTCP: mem(m.KernelTCPUsage),
		},
		Pids: pidsStats{Current: s.PidsStats.Current, Limit: s.PidsStats.Limit},
		Blkio: blkioStats{
			IoServiceBytesRecursive: entries(s.BlkioStats.IoServiceBytesRecursive),
			IoServicedRecursive:     entries(s.BlkioStats.IoServicedRecursive),
			IoQueuedRecursive:       entries(s.BlkioStats.IoQueuedRecursive),
			IoServiceTimeRecursive:  entries(s.BlkioStats.IoServiceTimeRecursive),
			IoWaitTimeRecursive:     entries(s.BlkioStats.IoWaitTimeRecursive),
			IoMergedRecursive:       entries(s.BlkioStats.IoMergedRecursive),
			IoTimeRecursive:         entries(s.BlkioStats.IoTimeRecursive),
			SectorsRecursive:        entries(s.BlkioStats.SectorsRecursive),
		},
		Hugetlb: map[string]hugetlb{},
	}
	for size, h := range s.HugetlbStats {
		out.Hugetlb[size] = hugetlb{Usage: h.Usage, Max: h.MaxUsage, Failcnt: h.Failcnt}
	}
	return out
}

func eventsCmd(g *globals) *cobra.Command {
	var stats bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use: "events [--stats] <container-id>", Short: "print container resource statistics as runc does", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rt := g.runtime()
			for {
				s, err := rt.Stats(args[0])
				if err != nil {
					return err
				}
				if err := printJSON(event{Type: "stats", ID: args[0], Data: convertStats(s)}); err != nil {
					return err
				}
				if stats {
					return nil
				}
				time.Sleep(interval)
			}
		},
	}
	cmd.Flags().BoolVar(&stats, "stats", false, "print statistics once and exit")
	cmd.Flags().DurationVar(&interval, "interval", 5*time.Second, "interval between statistics")
	return cmd
}
