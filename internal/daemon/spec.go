package daemon

import (
	"context"

	"github.com/berthproject/berth/internal/container"
	"github.com/berthproject/berth/internal/oci"
	"github.com/berthproject/berth/internal/runtime/caps"
)

// containerSpec normalizes a container record (its Config and HostConfig over its image) into
// the description the OCI spec is generated from.
func (d *Daemon) containerSpec(c *container.Container, rootfs string) (*oci.Container, error) {
	user, err := oci.ResolveUser(rootfs, c.Config.User)
	if err != nil {
		return nil, err
	}
	img, err := d.images.Resolve(context.Background(), c.ImageID)
	if err != nil {
		return nil, err
	}
	env := append(append([]string{}, img.Config.Env...), c.Config.Env...)
	wd := c.Config.WorkingDir
	if wd == "" {
		wd = img.Config.WorkingDir
	}
	hostCaps, _ := caps.Current()
	var hostList []string
	for i := 0; i <= caps.Last(); i++ {
		if hostCaps.Bounding.Has(i) {
			hostList = append(hostList, caps.Name(i))
		}
	}
	h := c.HostConfig
	oc := &oci.Container{
		ID: c.ID, Hostname: c.Config.Hostname, Domainname: c.Config.Domainname,
		Args: append([]string{c.Path}, c.Args...), Env: env, WorkingDir: wd, User: user, Tty: c.Config.Tty,
		Rootfs: rootfs, ReadOnly: h.ReadonlyRootfs, Privileged: h.Privileged, CapAdd: h.CapAdd, CapDrop: h.CapDrop,
		Memory: h.Memory, MemorySwap: h.MemorySwap, NanoCPUs: h.NanoCPUs, CPUShares: uint64(h.CPUShares),
		HostCaps: hostList, CgroupPath: "/berth/" + c.ID,
	}
	if h.PidsLimit != nil {
		oc.PidsLimit = *h.PidsLimit
	}
	if h.NetworkMode == "host" {
		oc.NetNS = "host"
	}
	return oc, nil
}
