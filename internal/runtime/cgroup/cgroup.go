// Package cgroup puts containers into cgroups and applies the resources of an OCI spec, on cgroup
// v1 (one hierarchy per controller) and on the unified v2 hierarchy alike, detected at run time.
// The controller logic is github.com/opencontainers/cgroups (runc's); this package only converts
// the spec and picks the driver.
package cgroup

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/opencontainers/cgroups"
	_ "github.com/opencontainers/cgroups/devices" // registers device-rule support for both drivers
	devcfg "github.com/opencontainers/cgroups/devices/config"
	"github.com/opencontainers/cgroups/fs"
	"github.com/opencontainers/cgroups/fs2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Manager is the cgroup of one container.
type Manager = cgroups.Manager

// Stats are the figures `docker stats` reads.
type Stats = cgroups.Stats

// V2 reports whether the host runs the unified (v2) hierarchy.
func V2() bool { return cgroups.IsCgroup2UnifiedMode() }

// DefaultPath is where a container lands when its spec names no cgroupsPath.
func DefaultPath(id string) string { return "/berth/" + id }

// New returns the manager for a container's cgroup; nothing is created until Apply.
// paths, when known from a saved state, pins the per-controller directories.
func New(path string, res *specs.LinuxResources, devices []specs.LinuxDevice, paths map[string]string) (Manager, error) {
	if strings.Contains(path, ":") {
		return nil, fmt.Errorf("cgroupsPath %q: the systemd cgroup driver is not supported, use a cgroupfs path", path)
	}
	if path != "" && filepath.Clean(path) != path {
		return nil, fmt.Errorf("cgroupsPath %q is not a clean path", path)
	}
	r, err := ConvertResources(res, devices)
	if err != nil {
		return nil, err
	}
	cg := &cgroups.Cgroup{Path: path, Resources: r}
	if V2() {
		return fs2.NewManager(cg, paths[""])
	}
	m, err := fs.NewManager(cg, paths)
	if err != nil {
		return nil, err
	}
	return v1Manager{m}, nil
}

// v1Manager writes device rules itself, in the order the spec lists them (the OCI spec asks
// for that order, and the library's rule emulator writes them sorted); the rest is the library's.
type v1Manager struct{ *fs.Manager }

func (m v1Manager) Set(r *cgroups.Resources) error {
	if r == nil || r.SkipDevices || len(r.Devices) == 0 {
		return m.Manager.Set(r)
	}
	rest := *r
	rest.SkipDevices = true
	if err := m.Manager.Set(&rest); err != nil {
		return err
	}
	dir := m.Path("devices")
	if dir == "" {
		return nil
	}
	for _, rule := range r.Devices {
		file := "devices.deny"
		if rule.Allow {
			file = "devices.allow"
		}
		if err := cgroups.WriteFile(dir, file, rule.CgroupString()); err != nil {
			return fmt.Errorf("device rule %q: %w", rule.CgroupString(), err)
		}
	}
	return nil
}

// defaultDeviceRules are the devices every container may use, whatever its spec says (runc's list).
var defaultDeviceRules = []*devcfg.Rule{
	{Type: devcfg.CharDevice, Major: 1, Minor: 3, Permissions: "rwm", Allow: true},                 // null
	{Type: devcfg.CharDevice, Major: 1, Minor: 5, Permissions: "rwm", Allow: true},                 // zero
	{Type: devcfg.CharDevice, Major: 1, Minor: 7, Permissions: "rwm", Allow: true},                 // full
	{Type: devcfg.CharDevice, Major: 1, Minor: 8, Permissions: "rwm", Allow: true},                 // random
	{Type: devcfg.CharDevice, Major: 1, Minor: 9, Permissions: "rwm", Allow: true},                 // urandom
	{Type: devcfg.CharDevice, Major: 5, Minor: 0, Permissions: "rwm", Allow: true},                 // tty
	{Type: devcfg.CharDevice, Major: 5, Minor: 2, Permissions: "rwm", Allow: true},                 // ptmx
	{Type: devcfg.CharDevice, Major: 136, Minor: devcfg.Wildcard, Permissions: "rwm", Allow: true}, // pts/*
}

// ConvertResources maps OCI resources onto the library's model. Device rules are the spec's,
// then the defaults and the spec's own device nodes allowed, as runc does.
func ConvertResources(res *specs.LinuxResources, devices []specs.LinuxDevice) (*cgroups.Resources, error) {
	r := &cgroups.Resources{}
	if res == nil {
		res = &specs.LinuxResources{}
	}
	for _, d := range res.Devices {
		rule, err := deviceRule(d)
		if err != nil {
			return nil, err
		}
		r.Devices = append(r.Devices, rule)
	}
	r.Devices = append(r.Devices, defaultDeviceRules...)
	for _, d := range devices {
		if d.Type == "p" {
			continue // FIFOs are not subject to the device cgroup
		}
		t, err := deviceType(d.Type)
		if err != nil {
			return nil, err
		}
		r.Devices = append(r.Devices, &devcfg.Rule{Type: t, Major: d.Major, Minor: d.Minor, Permissions: "rwm", Allow: true})
	}
	if m := res.Memory; m != nil {
		if m.Limit != nil {
			r.Memory = *m.Limit
		}
		if m.Reservation != nil {
			r.MemoryReservation = *m.Reservation
		}
		if m.Swap != nil {
			r.MemorySwap = *m.Swap
		}
		if m.Swappiness != nil {
			if *m.Swappiness > 100 {
				return nil, fmt.Errorf("memory.swappiness %d is out of range 0-100", *m.Swappiness)
			}
			r.MemorySwappiness = m.Swappiness
		}
		if m.DisableOOMKiller != nil {
			r.OomKillDisable = *m.DisableOOMKiller
		}
		if r.Memory > 0 && r.MemorySwap > 0 && r.MemorySwap < r.Memory {
			return nil, errors.New("memory+swap limit must be larger than the memory limit")
		}
	}
	if c := res.CPU; c != nil {
		if c.Shares != nil {
			r.CpuShares = *c.Shares
			if V2() && r.CpuShares != 0 {
				r.CpuWeight = cgroups.ConvertCPUSharesToCgroupV2Value(r.CpuShares)
			}
		}
		if c.Quota != nil {
			r.CpuQuota = *c.Quota
		}
		if c.Period != nil {
			r.CpuPeriod = *c.Period
		}
		if c.Burst != nil {
			r.CpuBurst = c.Burst
		}
		if c.RealtimeRuntime != nil {
			r.CpuRtRuntime = *c.RealtimeRuntime
		}
		if c.RealtimePeriod != nil {
			r.CpuRtPeriod = *c.RealtimePeriod
		}
		if c.Idle != nil {
			r.CPUIdle = c.Idle
		}
		r.CpusetCpus, r.CpusetMems = c.Cpus, c.Mems
	}
	if p := res.Pids; p != nil && p.Limit != nil {
		limit := *p.Limit
		if limit <= 0 {
			limit = -1 // OCI: zero or negative means unlimited
		}
		r.PidsLimit = &limit
	}
	if b := res.BlockIO; b != nil {
		if b.Weight != nil {
			r.BlkioWeight = *b.Weight
		}
		if b.LeafWeight != nil {
			r.BlkioLeafWeight = *b.LeafWeight
		}
		for _, wd := range b.WeightDevice {
			var w, lw uint16
			if wd.Weight != nil {
				w = *wd.Weight
			}
			if wd.LeafWeight != nil {
				lw = *wd.LeafWeight
			}
			r.BlkioWeightDevice = append(r.BlkioWeightDevice, cgroups.NewWeightDevice(wd.Major, wd.Minor, w, lw))
		}
		throttle := func(in []specs.LinuxThrottleDevice) (out []*cgroups.ThrottleDevice) {
			for _, t := range in {
				out = append(out, cgroups.NewThrottleDevice(t.Major, t.Minor, t.Rate))
			}
			return out
		}
		r.BlkioThrottleReadBpsDevice = throttle(b.ThrottleReadBpsDevice)
		r.BlkioThrottleWriteBpsDevice = throttle(b.ThrottleWriteBpsDevice)
		r.BlkioThrottleReadIOPSDevice = throttle(b.ThrottleReadIOPSDevice)
		r.BlkioThrottleWriteIOPSDevice = throttle(b.ThrottleWriteIOPSDevice)
	}
	for _, h := range res.HugepageLimits {
		r.HugetlbLimit = append(r.HugetlbLimit, &cgroups.HugepageLimit{Pagesize: h.Pagesize, Limit: h.Limit})
	}
	if n := res.Network; n != nil {
		if n.ClassID != nil {
			r.NetClsClassid = *n.ClassID
		}
		for _, p := range n.Priorities {
			r.NetPrioIfpriomap = append(r.NetPrioIfpriomap, &cgroups.IfPrioMap{Interface: p.Name, Priority: int64(p.Priority)})
		}
	}
	if len(res.Unified) > 0 {
		if !V2() {
			return nil, errors.New("linux.resources.unified needs cgroup v2, this host runs cgroup v1")
		}
		r.Unified = res.Unified
	}
	return r, nil
}

func deviceType(t string) (devcfg.Type, error) {
	switch t {
	case "", "a":
		return devcfg.WildcardDevice, nil
	case "c", "u":
		return devcfg.CharDevice, nil
	case "b":
		return devcfg.BlockDevice, nil
	case "p":
		return devcfg.FifoDevice, nil
	}
	return 0, fmt.Errorf("invalid device type %q", t)
}

func deviceRule(d specs.LinuxDeviceCgroup) (*devcfg.Rule, error) {
	t, err := deviceType(d.Type)
	if err != nil {
		return nil, err
	}
	major, minor := int64(devcfg.Wildcard), int64(devcfg.Wildcard)
	if d.Major != nil {
		major = *d.Major
	}
	if d.Minor != nil {
		minor = *d.Minor
	}
	access := d.Access
	if access == "" {
		access = "rwm"
	}
	if strings.Trim(access, "rwm") != "" {
		return nil, fmt.Errorf("invalid device access %q", d.Access)
	}
	return &devcfg.Rule{Type: t, Major: major, Minor: minor, Permissions: devcfg.Permissions(access), Allow: d.Allow}, nil
}
