package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/berthproject/berth/internal/container"
	"github.com/berthproject/berth/internal/runtime/cgroup"
	ctypes "github.com/moby/moby/api/types/container"
	"github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// statsInterval is how often a stream sends a sample (dockerd: every second).
const statsInterval = time.Second

// ContainerStats answers GET /containers/{id}/stats. Each sample is read from the container's
// cgroup. stream sends one a second, each with the previous one as "pre" (the first without);
// otherwise one sample is sent: with a "pre" taken a second earlier, unless oneShot asks for it
// at once. A container that is not running gives empty samples, as from dockerd.
func (d *Daemon) ContainerStats(ctx context.Context, ref string, stream, oneShot bool, send func(*ctypes.StatsResponse) error) error {
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	var prev *ctypes.StatsResponse
	if !stream && !oneShot {
		prev = d.sample(c.ID)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(statsInterval):
		}
	}
	for {
		s := d.sample(c.ID)
		if prev != nil && !prev.Read.IsZero() && !s.Read.IsZero() {
			s.PreCPUStats, s.PreRead = prev.CPUStats, prev.Read
		}
		if err := send(s); err != nil || !stream {
			return err
		}
		prev = s
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(statsInterval):
		}
	}
}

// sample reads one StatsResponse for a container (ID and name only when it is not running).
func (d *Daemon) sample(id string) *ctypes.StatsResponse {
	c, err := d.containers.Get(id)
	if err != nil {
		return &ctypes.StatsResponse{ID: id}
	}
	s := &ctypes.StatsResponse{ID: c.ID, Name: "/" + c.Name}
	if c.Status != container.StatusRunning && c.Status != container.StatusPaused {
		return s
	}
	m, err := cgroup.New(d.cgroupPath(c.ID), nil, nil, nil)
	if err != nil {
		return s
	}
	cg, err := m.GetStats()
	if err != nil {
		return s
	}
	s.OSType = "linux"
	s.Read = time.Now().UTC()
	s.CPUStats = cpuStats(cg)
	mem := cg.MemoryStats
	s.MemoryStats = ctypes.MemoryStats{
		Usage: mem.Usage.Usage, MaxUsage: mem.Usage.MaxUsage, Stats: mem.Stats,
		Failcnt: mem.Usage.Failcnt, Limit: mem.Usage.Limit,
	}
	// Without a limit the cgroup reports a huge number: dockerd shows the machine's memory.
	if total := uint64(memTotal()); total > 0 && (s.MemoryStats.Limit == 0 || s.MemoryStats.Limit > total) {
		s.MemoryStats.Limit = total
	}
	s.PidsStats = ctypes.PidsStats{Current: cg.PidsStats.Current, Limit: cg.PidsStats.Limit}
	b := cg.BlkioStats
	s.BlkioStats = ctypes.BlkioStats{
		IoServiceBytesRecursive: blkio(b.IoServiceBytesRecursive),
		IoServicedRecursive:     blkio(b.IoServicedRecursive),
		IoQueuedRecursive:       blkio(b.IoQueuedRecursive),
		IoServiceTimeRecursive:  blkio(b.IoServiceTimeRecursive),
		IoWaitTimeRecursive:     blkio(b.IoWaitTimeRecursive),
		IoMergedRecursive:       blkio(b.IoMergedRecursive),
		IoTimeRecursive:         blkio(b.IoTimeRecursive),
		SectorsRecursive:        blkio(b.SectorsRecursive),
	}
	return s
}

// cgroupPath is the container's cgroup as its OCI spec names it (cgroup.DefaultPath otherwise).
func (d *Daemon) cgroupPath(id string) string {
	b, err := os.ReadFile(filepath.Join(d.execDir(id), "bundle", "config.json"))
	if err == nil {
		var spec specs.Spec
		if json.Unmarshal(b, &spec) == nil && spec.Linux != nil && spec.Linux.CgroupsPath != "" {
			return spec.Linux.CgroupsPath
		}
	}
	return cgroup.DefaultPath(id)
}

func cpuStats(cg *cgroups.Stats) ctypes.CPUStats {
	u := cg.CpuStats.CpuUsage
	t := cg.CpuStats.ThrottlingData
	return ctypes.CPUStats{
		CPUUsage: ctypes.CPUUsage{TotalUsage: u.TotalUsage, PercpuUsage: u.PercpuUsage,
			UsageInKernelmode: u.UsageInKernelmode, UsageInUsermode: u.UsageInUsermode},
		SystemUsage:    systemCPUUsage(),
		OnlineCPUs:     onlineCPUs(),
		ThrottlingData: ctypes.ThrottlingData{Periods: t.Periods, ThrottledPeriods: t.ThrottledPeriods, ThrottledTime: t.ThrottledTime},
	}
}

func blkio(in []cgroups.BlkioStatEntry) []ctypes.BlkioStatEntry {
	if in == nil {
		return nil
	}
	out := make([]ctypes.BlkioStatEntry, 0, len(in))
	for _, e := range in {
		out = append(out, ctypes.BlkioStatEntry{Major: e.Major, Minor: e.Minor, Op: e.Op, Value: e.Value})
	}
	return out
}

// clockTicks is USER_HZ, the unit of /proc/stat: 100 on every Linux architecture berth builds for.
const clockTicks = 100

// systemCPUUsage is the host's CPU time in nanoseconds (the first line of /proc/stat, as dockerd
// sums it: user, nice, system, idle, iowait, irq, softirq), the base of docker stats' CPU %.
func systemCPUUsage() uint64 {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 8 || fields[0] != "cpu" {
			continue
		}
		var ticks uint64
		for _, v := range fields[1:8] {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return 0
			}
			ticks += n
		}
		return ticks * uint64(time.Second) / clockTicks
	}
	return 0
}

// onlineCPUs counts the CPUs in /sys/devices/system/cpu/online ("0-3,5").
func onlineCPUs() uint32 {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return 0
	}
	var n uint32
	for _, part := range strings.Split(strings.TrimSpace(string(b)), ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		z := a
		var err2 error
		if isRange {
			z, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || z < a {
			return 0
		}
		n += uint32(z - a + 1)
	}
	return n
}
