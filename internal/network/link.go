package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// MACFromIP is Docker's MAC for an IPv4 address: 02:42 then the four bytes of the address.
func MACFromIP(ip netip.Addr) net.HardwareAddr {
	b := ip.As4()
	return net.HardwareAddr{0x02, 0x42, b[0], b[1], b[2], b[3]}
}

// EnsureBridge makes the Linux bridge name with address gw (as gateway/prefix) and, when gw6 is
// valid, the IPv6 gateway gw6, and sets it up; an existing one is kept and given the addresses if
// it lacks them. route_localnet is set on it so that connections to published ports through
// 127.0.0.1 can be forwarded to containers.
func EnsureBridge(name string, gw, gw6 netip.Prefix) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if !errors.As(err, &nf) {
			return fmt.Errorf("bridge %s: %w", name, err)
		}
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name, TxQLen: -1}}
		if err := netlink.LinkAdd(br); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("create bridge %s: %w", name, err)
		}
		if link, err = netlink.LinkByName(name); err != nil {
			return fmt.Errorf("bridge %s: %w", name, err)
		}
	}
	if _, ok := link.(*netlink.Bridge); !ok {
		return fmt.Errorf("%s exists and is not a bridge", name)
	}
	if err := netlink.AddrReplace(link, netlinkAddr(gw)); err != nil {
		return fmt.Errorf("address %s on %s: %w", gw, name, err)
	}
	sysctls := map[string]string{"/proc/sys/net/ipv4/conf/" + name + "/route_localnet": "1", "/proc/sys/net/ipv4/ip_forward": "1"}
	if gw6.IsValid() {
		// As dockerd with IPv6 networks: the host forwards IPv6 (containers' traffic out).
		sysctls["/proc/sys/net/ipv6/conf/"+name+"/disable_ipv6"] = "0"
		sysctls["/proc/sys/net/ipv6/conf/all/forwarding"] = "1"
	}
	for f, v := range sysctls {
		if err := os.WriteFile(f, []byte(v), 0o644); err != nil {
			return err
		}
	}
	if gw6.IsValid() {
		if err := netlink.AddrReplace(link, netlinkAddr(gw6)); err != nil {
			return fmt.Errorf("address %s on %s: %w", gw6, name, err)
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("bridge %s up: %w", name, err)
	}
	return nil
}

// netlinkAddr is p as an interface address; an IPv6 one skips duplicate address detection, so it
// is usable at once (the subnet is the network's own).
func netlinkAddr(p netip.Prefix) *netlink.Addr {
	a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
	if p.Addr().Is6() {
		a.Flags = unix.IFA_F_NODAD
	}
	return a
}

// DeleteLink removes a link by name; a missing one is fine.
func DeleteLink(name string) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return err
	}
	return netlink.LinkDel(link)
}

// Interface is one container interface on a bridge.
type Interface struct {
	HostVeth string       // the host end, a port of Bridge
	Bridge   string       // the bridge device
	Name     string       // inside the container: eth0
	Addr     netip.Prefix // the container's address and the subnet's prefix length
	Gateway  netip.Addr   // default route via (invalid: no default route, as --internal)
	Addr6    netip.Prefix // on an IPv6 network, the container's IPv6 address
	Gateway6 netip.Addr   // IPv6 default route via
	MAC      net.HardwareAddr
}

// AttachVeth creates a veth pair, plugs the host end into the bridge and moves the other into
// the namespace pinned at nsPath, where it becomes ifc.Name with its address, MAC and route.
func AttachVeth(nsPath string, ifc Interface) (err error) {
	br, err := netlink.LinkByName(ifc.Bridge)
	if err != nil {
		return fmt.Errorf("bridge %s: %w", ifc.Bridge, err)
	}
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return fmt.Errorf("network namespace: %w", err)
	}
	defer ns.Close()
	// Made in one request: the host end up on the bridge, the peer in the namespace with its
	// final name (names there are the container's own) and MAC address.
	veth := &netlink.Veth{
		LinkAttrs:        netlink.LinkAttrs{Name: ifc.HostVeth, MasterIndex: br.Attrs().Index, TxQLen: -1, Flags: net.FlagUp},
		PeerName:         ifc.Name,
		PeerHardwareAddr: ifc.MAC,
		PeerNamespace:    netlink.NsFd(int(ns)),
	}
	err = netlink.LinkAdd(veth)
	if errors.Is(err, unix.EEXIST) {
		// The previous run's, whose namespace the kernel has not finished tearing down.
		DeleteLink(ifc.HostVeth)
		err = netlink.LinkAdd(veth)
	}
	if err != nil {
		return fmt.Errorf("create veth %s: %w", ifc.HostVeth, err)
	}
	defer func() {
		if err != nil {
			DeleteLink(ifc.HostVeth)
		}
	}()
	host, err := netlink.LinkByName(ifc.HostVeth)
	if err != nil {
		return err
	}
	if err := netlink.LinkSetHairpin(host, true); err != nil {
		return fmt.Errorf("hairpin on %s: %w", ifc.HostVeth, err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	peer, err := h.LinkByName(ifc.Name)
	if err != nil {
		return err
	}
	for _, p := range []netip.Prefix{ifc.Addr, ifc.Addr6} {
		if !p.IsValid() {
			continue
		}
		if err := h.AddrAdd(peer, netlinkAddr(p)); err != nil {
			return fmt.Errorf("address %s: %w", p, err)
		}
	}
	if err := h.LinkSetUp(peer); err != nil {
		return err
	}
	if ifc.Gateway.IsValid() {
		route := &netlink.Route{LinkIndex: peer.Attrs().Index, Gw: ifc.Gateway.AsSlice()}
		if err := h.RouteAdd(route); err != nil {
			return fmt.Errorf("default route via %s: %w", ifc.Gateway, err)
		}
	}
	if ifc.Gateway6.IsValid() {
		route := &netlink.Route{LinkIndex: peer.Attrs().Index, Gw: ifc.Gateway6.AsSlice(),
			Dst: &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}}
		if err := h.RouteAdd(route); err != nil {
			return fmt.Errorf("default route via %s: %w", ifc.Gateway6, err)
		}
	}
	return nil
}

// DetachLink takes a link off its bridge (and the bridge forgets its addresses) without deleting
// it: a veth whose peer is in a namespace about to go is deleted by the kernel with it, off the
// caller's path (deleting a link waits for an RCU grace period, ~15 ms; setting it down first
// would cost another, ~0.7 ms).
func DetachLink(name string) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return err
	}
	return netlink.LinkSetNoMaster(link)
}
