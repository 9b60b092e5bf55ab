package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/berthproject/berth/internal/container"
	"github.com/berthproject/berth/internal/errdefs"
	ctypes "github.com/moby/moby/api/types/container"
	evtypes "github.com/moby/moby/api/types/events"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const minimumMemory = 6 * 1024 * 1024 // dockerd's floor for a memory limit

// ContainerUpdate answers POST /containers/{id}/update: new resource limits and restart
// policy, kept in the record and, for a live container, applied at once by the runtime.
func (d *Daemon) ContainerUpdate(ctx context.Context, ref string, upd *ctypes.UpdateConfig) (*ctypes.UpdateResponse, error) {
	c, err := d.containers.Get(ref)
	if err != nil {
		return nil, err
	}
	if c.Status == container.StatusDead {
		return nil, errdefs.Conflict(fmt.Errorf("Container %s is marked for removal and cannot be \"update\".", c.ID))
	}
	if err := validateUpdate(&upd.Resources); err != nil {
		return nil, err
	}
	if upd.RestartPolicy.Name != "" {
		if err := ctypes.ValidateRestartPolicy(upd.RestartPolicy); err != nil {
			return nil, errdefs.InvalidArgument(err)
		}
	}
	h := c.HostConfig
	if err := mergeUpdate(h, upd); err != nil {
		return nil, errdefs.Conflict(fmt.Errorf("Cannot update container %s: %w", c.ID, err))
	}
	if c.Status == container.StatusRunning || c.Status == container.StatusPaused {
		file, err := d.writeTempJSON(c.ID, "update-resources.json", updateResources(h, &upd.Resources))
		if err != nil {
			return nil, err
		}
		_, err = d.runtimeCommand(ctx, "update", "--resources", file, c.ID)
		os.Remove(file)
		if err != nil {
			return nil, fmt.Errorf("Cannot update container %s: %w", c.ID, err)
		}
	}
	cur, err := d.containers.Get(c.ID)
	if err != nil {
		return nil, err
	}
	cur.HostConfig = h
	if err := d.containers.Save(cur); err != nil {
		return nil, err
	}
	d.event(cur, string(evtypes.ActionUpdate), nil)
	return &ctypes.UpdateResponse{Warnings: []string{}}, nil
}

// validateUpdate applies dockerd's checks to the requested values.
func validateUpdate(r *ctypes.Resources) error {
	bad := func(msg string) error { return errdefs.InvalidArgument(errors.New(msg)) }
	if r.Memory != 0 && r.Memory < minimumMemory {
		return bad("Minimum memory limit allowed is 6MB")
	}
	if r.Memory > 0 && r.MemorySwap > 0 && r.MemorySwap < r.Memory {
		return bad("Minimum memoryswap limit should be larger than memory limit, see usage")
	}
	if r.MemoryReservation != 0 && r.MemoryReservation < minimumMemory {
		return bad("Minimum memory reservation allowed is 6MB")
	}
	if r.NanoCPUs > 0 && r.CPUPeriod > 0 {
		return bad("Conflicting options: Nano CPUs and CPU Period cannot both be set")
	}
	if r.NanoCPUs > 0 && r.CPUQuota > 0 {
		return bad("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
	}
	if n := runtime.NumCPU(); r.NanoCPUs < 0 || r.NanoCPUs > int64(n)*1e9 {
		return bad(fmt.Sprintf("Range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available", n, n))
	}
	if r.CPUPeriod != 0 && (r.CPUPeriod < 1000 || r.CPUPeriod > 1000000) {
		return bad("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
	}
	if r.CPUQuota > 0 && r.CPUQuota < 1000 {
		return bad("CPU cfs quota can not be less than 1ms (i.e. 1000)")
	}
	if r.BlkioWeight > 0 && (r.BlkioWeight < 10 || r.BlkioWeight > 1000) {
		return bad("Range of blkio weight is from 10 to 1000")
	}
	return nil
}

// mergeUpdate overlays the values an update sets on the container's HostConfig, refusing the
// combinations dockerd refuses (NanoCPUs against a period or quota already set, a memory limit
// above the memory+swap limit without a new one).
func mergeUpdate(h *ctypes.HostConfig, u *ctypes.UpdateConfig) error {
	r, cur := &u.Resources, &h.Resources
	switch {
	case r.NanoCPUs > 0 && cur.CPUPeriod > 0:
		return errors.New("Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set")
	case r.NanoCPUs > 0 && cur.CPUQuota > 0:
		return errors.New("Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set")
	case r.CPUPeriod > 0 && cur.NanoCPUs > 0:
		return errors.New("Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set")
	case r.CPUQuota > 0 && cur.NanoCPUs > 0:
		return errors.New("Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set")
	case r.Memory != 0 && r.MemorySwap == 0 && r.Memory > cur.MemorySwap:
		return errors.New("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time")
	}
	if u.RestartPolicy.Name != "" && h.AutoRemove && !u.RestartPolicy.IsNone() {
		return errors.New("Restart policy cannot be updated because AutoRemove is enabled for the container")
	}
	set := func(dst *int64, v int64) {
		if v != 0 {
			*dst = v
		}
	}
	set(&cur.CPUShares, r.CPUShares)
	set(&cur.Memory, r.Memory)
	set(&cur.MemorySwap, r.MemorySwap)
	set(&cur.MemoryReservation, r.MemoryReservation)
	set(&cur.NanoCPUs, r.NanoCPUs)
	set(&cur.CPUPeriod, r.CPUPeriod)
	set(&cur.CPUQuota, r.CPUQuota)
	set(&cur.CPURealtimePeriod, r.CPURealtimePeriod)
	set(&cur.CPURealtimeRuntime, r.CPURealtimeRuntime)
	if r.BlkioWeight != 0 {
		cur.BlkioWeight = r.BlkioWeight
	}
	if r.CpusetCpus != "" {
		cur.CpusetCpus = r.CpusetCpus
	}
	if r.CpusetMems != "" {
		cur.CpusetMems = r.CpusetMems
	}
	if r.PidsLimit != nil {
		limit := *r.PidsLimit
		cur.PidsLimit = &limit
	}
	if u.RestartPolicy.Name != "" {
		h.RestartPolicy = u.RestartPolicy
	}
	return nil
}

// updateResources is what the runtime must change: the limits this update sets, in OCI terms,
// with their companions from the merged HostConfig h (a CPU quota needs its period).
func updateResources(h *ctypes.HostConfig, r *ctypes.Resources) *specs.LinuxResources {
	out := &specs.LinuxResources{}
	i64 := func(v int64) *int64 { return &v }
	u64 := func(v int64) *uint64 { x := uint64(v); return &x }
	mem := func() *specs.LinuxMemory {
		if out.Memory == nil {
			out.Memory = &specs.LinuxMemory{}
		}
		return out.Memory
	}
	cpu := func() *specs.LinuxCPU {
		if out.CPU == nil {
			out.CPU = &specs.LinuxCPU{}
		}
		return out.CPU
	}
	if r.Memory != 0 {
		mem().Limit = i64(h.Memory)
	}
	if r.Memory != 0 || r.MemorySwap != 0 {
		if h.MemorySwap != 0 {
			mem().Swap = i64(h.MemorySwap)
		}
	}
	if r.MemoryReservation != 0 {
		mem().Reservation = i64(h.MemoryReservation)
	}
	if r.CPUShares != 0 {
		cpu().Shares = u64(h.CPUShares)
	}
	if r.NanoCPUs != 0 {
		// As dockerd: NanoCPUs is a CFS quota over a 100ms period.
		cpu().Period, cpu().Quota = u64(100000), i64(h.NanoCPUs*100000/1e9)
	}
	if r.CPUPeriod != 0 || r.CPUQuota != 0 {
		if h.CPUPeriod != 0 {
			cpu().Period = u64(h.CPUPeriod)
		}
		if h.CPUQuota != 0 {
			cpu().Quota = i64(h.CPUQuota)
		}
	}
	if r.CPURealtimePeriod != 0 {
		cpu().RealtimePeriod = u64(h.CPURealtimePeriod)
	}
	if r.CPURealtimeRuntime != 0 {
		cpu().RealtimeRuntime = i64(h.CPURealtimeRuntime)
	}
	if r.CpusetCpus != "" {
		cpu().Cpus = h.CpusetCpus
	}
	if r.CpusetMems != "" {
		cpu().Mems = h.CpusetMems
	}
	if r.PidsLimit != nil {
		limit := *r.PidsLimit
		if limit <= 0 {
			limit = -1 // 0 and -1 both lift the limit
		}
		out.Pids = &specs.LinuxPids{Limit: &limit}
	}
	if r.BlkioWeight != 0 {
		w := r.BlkioWeight
		out.BlockIO = &specs.LinuxBlockIO{Weight: &w}
	}
	return out
}
