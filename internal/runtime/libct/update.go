package libct

import (
	"errors"
	"fmt"

	"github.com/berthproject/berth/internal/runtime/cgroup"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Update applies new resource limits to a live container and records them in its state. Only
// the fields set in res change; the rest keep their values. Device rules are never rewritten:
// on cgroup v1 that means a deny-all then re-allow, a moment in which the container's open
// devices fail.
func (r *Runtime) Update(id string, res *specs.LinuxResources) error {
	st, err := r.Store.Load(id)
	if err != nil {
		return err
	}
	if s := r.Store.Status(st); s == Stopped {
		return fmt.Errorf("container %s is not running", id)
	}
	if st.Config == nil {
		return errors.New("container state has no config")
	}
	if st.Config.Linux == nil {
		st.Config.Linux = &specs.Linux{}
	}
	merged := MergeResources(st.Config.Linux.Resources, res)
	m, err := cgroup.New(st.CgroupPath, merged, nil, st.CgroupPaths)
	if err != nil {
		return err
	}
	converted, err := cgroup.ConvertResources(merged, nil)
	if err != nil {
		return err
	}
	converted.SkipDevices = true
	if err := m.Set(converted); err != nil {
		return err
	}
	st.Config.Linux.Resources = merged
	return r.Store.Save(st)
}

// MergeResources overlays the limits set in upd on base (neither is modified); devices stay
// base's.
func MergeResources(base, upd *specs.LinuxResources) *specs.LinuxResources {
	out := &specs.LinuxResources{}
	if base != nil {
		*out = *base
	}
	if upd == nil {
		return out
	}
	if m := upd.Memory; m != nil {
		cur := specs.LinuxMemory{}
		if out.Memory != nil {
			cur = *out.Memory
		}
		set64(&cur.Limit, m.Limit)
		set64(&cur.Reservation, m.Reservation)
		set64(&cur.Swap, m.Swap)
		set64(&cur.KernelTCP, m.KernelTCP)
		if m.Swappiness != nil {
			cur.Swappiness = m.Swappiness
		}
		if m.DisableOOMKiller != nil {
			cur.DisableOOMKiller = m.DisableOOMKiller
		}
		out.Memory = &cur
	}
	if c := upd.CPU; c != nil {
		cur := specs.LinuxCPU{}
		if out.CPU != nil {
			cur = *out.CPU
		}
		if c.Shares != nil {
			cur.Shares = c.Shares
		}
		set64(&cur.Quota, c.Quota)
		if c.Period != nil {
			cur.Period = c.Period
		}
		set64(&cur.RealtimeRuntime, c.RealtimeRuntime)
		if c.RealtimePeriod != nil {
			cur.RealtimePeriod = c.RealtimePeriod
		}
		if c.Cpus != "" {
			cur.Cpus = c.Cpus
		}
		if c.Mems != "" {
			cur.Mems = c.Mems
		}
		out.CPU = &cur
	}
	if p := upd.Pids; p != nil && p.Limit != nil {
		limit := *p.Limit
		out.Pids = &specs.LinuxPids{Limit: &limit}
	}
	if b := upd.BlockIO; b != nil && b.Weight != nil {
		cur := specs.LinuxBlockIO{}
		if out.BlockIO != nil {
			cur = *out.BlockIO
		}
		cur.Weight = b.Weight
		out.BlockIO = &cur
	}
	return out
}

func set64(dst **int64, v *int64) {
	if v != nil {
		x := *v
		*dst = &x
	}
}
