package daemon

// The default bridge network. Each container on it gets, when it starts, a veth pair into its
// network namespace (eth0, an address from the bridge's subnet, Docker's MAC derived from the
// address, a default route via the bridge) and its published ports as DNAT rules in berth's own
// nftables table. All of it is undone when the container stops. A container's endpoint is
// recorded in <exec-root>/network/endpoints/<id>.json while it runs: a restarted daemon reloads
// the records of containers still running (their addresses stay theirs, their rules are put
// back in one atomic transaction) and undoes the others.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/berthproject/berth/internal/atomicfile"
	"github.com/berthproject/berth/internal/container"
	"github.com/berthproject/berth/internal/errdefs"
	"github.com/berthproject/berth/internal/network"
	ctypes "github.com/moby/moby/api/types/container"
	nettypes "github.com/moby/moby/api/types/network"
)

// Defaults of the default bridge: Docker's are docker0 and 172.17.0.1/16; berth's differ so
// that berthd and dockerd can run side by side.
const (
	defaultBridgeName = "berth0"
	defaultBridgeIP   = "172.29.0.1/16"
)

// netController owns the default bridge network.
type netController struct {
	mu      sync.Mutex
	bridge  string
	gateway netip.Prefix // the bridge's address and the subnet's length
	id      string       // the network's ID
	ipam    *network.IPAM
	fw      *network.Firewall
	dir     string
	eps     map[string]*endpoint // by container id
}

// endpoint is one container's attachment to the bridge network.
type endpoint struct {
	Container  string             `json:"container"`
	EndpointID string             `json:"endpoint_id"`
	HostVeth   string             `json:"host_veth"`
	Addr       netip.Prefix       `json:"addr"`
	Gateway    netip.Addr         `json:"gateway"`
	MAC        string             `json:"mac"`
	Ports      []network.PortRule `json:"ports,omitempty"`
}

// openNetwork sets up the default bridge (-b, --bip) and its table, and loads the endpoints of
// the previous run. -b none turns bridge networking off, as Docker's.
func (d *Daemon) openNetwork() error {
	name := d.cfg.Bridge
	if name == "none" {
		return nil
	}
	if name == "" {
		name = defaultBridgeName
	}
	bip := d.cfg.BIP
	if bip == "" {
		bip = defaultBridgeIP
	}
	gw, err := netip.ParsePrefix(bip)
	if err != nil || !gw.Addr().Is4() {
		return fmt.Errorf("--bip %q: an IPv4 address with a prefix length is needed", bip)
	}
	ipam, err := network.NewIPAM(gw.Masked(), gw.Addr())
	if err != nil {
		return err
	}
	if err := network.EnsureBridge(name, gw); err != nil {
		return err
	}
	table := "berth"
	if name != defaultBridgeName {
		table = "berth-" + name
	}
	sum := sha256.Sum256([]byte(d.id + "/bridge/" + name))
	n := &netController{bridge: name, gateway: gw, id: hex.EncodeToString(sum[:]), ipam: ipam,
		fw:  &network.Firewall{Table: table, Bridge: name, Subnet: gw.Masked()},
		dir: filepath.Join(d.cfg.ExecRoot, "network", "endpoints"), eps: map[string]*endpoint{}}
	if err := os.MkdirAll(n.dir, 0o700); err != nil {
		return err
	}
	entries, _ := os.ReadDir(n.dir)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(n.dir, e.Name()))
		var ep endpoint
		if err != nil || json.Unmarshal(b, &ep) != nil || ep.Container == "" {
			os.Remove(filepath.Join(n.dir, e.Name()))
			continue
		}
		if _, err := ipam.Allocate(ep.Container, ep.Addr.Addr()); err != nil {
			d.log.Warn("endpoint of the previous run not restored", "container", ep.Container, "err", err)
			continue
		}
		n.eps[ep.Container] = &ep
	}
	d.net = n
	return nil
}

// reconcileNetwork, once the containers are restored, undoes the endpoints of containers that
// are not running and puts the table back with the running ones' ports.
func (d *Daemon) reconcileNetwork() error {
	n := d.net
	if n == nil {
		return nil
	}
	n.mu.Lock()
	var dead []string
	for id := range n.eps {
		if c, err := d.containers.Get(id); err != nil || !c.Status.Alive() {
			dead = append(dead, id)
		}
	}
	n.mu.Unlock()
	for _, id := range dead {
		d.releaseNetwork(id)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	ports := map[string][]network.PortRule{}
	for id, ep := range n.eps {
		ports[id] = ep.Ports
	}
	return n.fw.Apply(ports)
}

// onBridge: the container's network mode puts it on the default bridge.
func onBridge(h *ctypes.HostConfig) bool {
	m := string(h.NetworkMode)
	return m == "" || m == "default" || m == "bridge"
}

// attachNetwork connects a container whose namespace is pinned at nsPath to the bridge.
func (d *Daemon) attachNetwork(c *container.Container, nsPath string) (err error) {
	n := d.net
	if n == nil || !onBridge(c.HostConfig) {
		return nil
	}
	d.releaseNetwork(c.ID) // a previous run's, if the daemon died before cleaning up
	ip, err := n.ipam.Allocate(c.ID, netip.Addr{})
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(c.ID + ip.String()))
	ep := &endpoint{Container: c.ID, EndpointID: hex.EncodeToString(sum[:]), HostVeth: "veth" + c.ID[:11],
		Addr: netip.PrefixFrom(ip, n.gateway.Bits()), Gateway: n.gateway.Addr()}
	mac := network.MACFromIP(ip)
	ep.MAC = mac.String()
	n.mu.Lock()
	n.eps[c.ID] = ep
	n.mu.Unlock()
	defer func() {
		if err != nil {
			d.releaseNetwork(c.ID)
		}
	}()
	if ep.Ports, err = d.portRules(c, ip); err != nil {
		return err
	}
	if err := n.save(ep); err != nil {
		return err
	}
	if err := network.AttachVeth(nsPath, network.Interface{HostVeth: ep.HostVeth, Bridge: n.bridge, Name: "eth0",
		Addr: ep.Addr, Gateway: ep.Gateway, MAC: mac}); err != nil {
		return err
	}
	return n.fw.AddPorts(c.ID, ep.Ports)
}

func (n *netController) save(ep *endpoint) error {
	b, err := json.Marshal(ep)
	if err != nil {
		return err
	}
	return atomicfile.WriteFileNoSync(filepath.Join(n.dir, ep.Container+".json"), b, 0o600)
}

// releaseNetwork undoes a container's endpoint: its rules, its veth, its address.
func (d *Daemon) releaseNetwork(id string) {
	n := d.net
	if n == nil {
		return
	}
	n.mu.Lock()
	ep := n.eps[id]
	delete(n.eps, id)
	n.mu.Unlock()
	if ep == nil {
		return
	}
	if err := n.fw.RemovePorts(id); err != nil {
		d.log.Warn("remove port rules", "container", id, "err", err)
	}
	if err := network.DeleteLink(ep.HostVeth); err != nil {
		d.log.Warn("remove veth", "container", id, "err", err)
	}
	os.Remove(filepath.Join(n.dir, id+".json"))
	n.ipam.Release(id, ep.Addr.Addr())
}

// portRules turns the container's port bindings (and, with -P, its exposed ports) into rules.
func (d *Daemon) portRules(c *container.Container, ip netip.Addr) ([]network.PortRule, error) {
	bindings := nettypes.PortMap{}
	for p, bs := range c.HostConfig.PortBindings {
		bindings[p] = bs
	}
	if c.HostConfig.PublishAllPorts {
		for p := range d.exposedPorts(c) {
			if _, ok := bindings[p]; !ok {
				bindings[p] = []nettypes.PortBinding{{}}
			}
		}
	}
	var out []network.PortRule
	for p, bs := range bindings {
		for _, b := range bs {
			hp, err := hostPortFor(b.HostPort, string(p.Proto()))
			if err != nil {
				return nil, err
			}
			out = append(out, network.PortRule{Proto: string(p.Proto()), HostIP: b.HostIP, HostPort: hp,
				ContainerIP: ip, ContainerPort: p.Num()})
		}
	}
	return out, nil
}

// exposedPorts is the container's EXPOSE set: its own and its image's.
func (d *Daemon) exposedPorts(c *container.Container) nettypes.PortSet {
	set := nettypes.PortSet{}
	for p := range c.Config.ExposedPorts {
		set[p] = struct{}{}
	}
	if img, err := d.images.Resolve(context.Background(), c.ImageID); err == nil {
		for p := range img.Config.ExposedPorts {
			if port, err := nettypes.ParsePort(p); err == nil {
				set[port] = struct{}{}
			}
		}
	}
	return set
}

// hostPortFor picks the host port of a binding: as given, the first free one of a range, or one
// the kernel chooses in its ephemeral range when empty.
func hostPortFor(spec, proto string) (uint16, error) {
	lo, hi := 0, 0
	if spec != "" {
		a, b, isRange := strings.Cut(spec, "-")
		var err error
		if lo, err = strconv.Atoi(a); err != nil || lo < 0 || lo > 65535 {
			return 0, errdefs.InvalidArgument(fmt.Errorf("invalid host port %q", spec))
		}
		hi = lo
		if isRange {
			if hi, err = strconv.Atoi(b); err != nil || hi < lo || hi > 65535 {
				return 0, errdefs.InvalidArgument(fmt.Errorf("invalid host port range %q", spec))
			}
		}
		if lo == hi && lo != 0 {
			return uint16(lo), nil
		}
	}
	for p := lo; p <= hi; p++ {
		if got, err := freePort(p, proto); err == nil {
			return got, nil
		}
	}
	return 0, errdefs.Conflict(errors.New("no free host port for " + spec))
}

func freePort(p int, proto string) (uint16, error) {
	addr := ":" + strconv.Itoa(p)
	if proto == "udp" {
		l, err := net.ListenPacket("udp4", addr)
		if err != nil {
			return 0, err
		}
		defer l.Close()
		return uint16(l.LocalAddr().(*net.UDPAddr).Port), nil
	}
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port), nil
}

// networkSettings is a container's NetworkSettings as Docker's inspect shows them.
func (d *Daemon) networkSettings(c *container.Container) *ctypes.NetworkSettings {
	s := &ctypes.NetworkSettings{Ports: nettypes.PortMap{}, Networks: map[string]*nettypes.EndpointSettings{}}
	n := d.net
	if n == nil || !onBridge(c.HostConfig) {
		if m := string(c.HostConfig.NetworkMode); m == "host" || m == "none" {
			s.Networks[m] = &nettypes.EndpointSettings{}
		}
		return s
	}
	es := &nettypes.EndpointSettings{NetworkID: n.id}
	s.Networks["bridge"] = es
	n.mu.Lock()
	ep := n.eps[c.ID]
	n.mu.Unlock()
	if ep == nil || !c.Status.Alive() {
		return s
	}
	s.SandboxKey = d.netnsPath(c.ID)
	s.SandboxID = ep.EndpointID[32:]
	es.EndpointID, es.Gateway, es.IPAddress, es.IPPrefixLen = ep.EndpointID, ep.Gateway, ep.Addr.Addr(), ep.Addr.Bits()
	if mac, err := net.ParseMAC(ep.MAC); err == nil {
		es.MacAddress = nettypes.HardwareAddr(mac)
	}
	for p := range d.exposedPorts(c) {
		s.Ports[p] = nil
	}
	for _, r := range ep.Ports {
		p, err := nettypes.ParsePort(fmt.Sprintf("%d/%s", r.ContainerPort, r.Proto))
		if err != nil {
			continue
		}
		hip := r.HostIP
		if !hip.IsValid() {
			hip = netip.IPv4Unspecified()
		}
		s.Ports[p] = append(s.Ports[p], nettypes.PortBinding{HostIP: hip, HostPort: strconv.Itoa(int(r.HostPort))})
	}
	return s
}

// containerAddr is the container's address on the bridge, if it has one.
func (d *Daemon) containerAddr(id string) (netip.Addr, bool) {
	if d.net == nil {
		return netip.Addr{}, false
	}
	d.net.mu.Lock()
	defer d.net.mu.Unlock()
	if ep := d.net.eps[id]; ep != nil {
		return ep.Addr.Addr(), true
	}
	return netip.Addr{}, false
}

// summaryNetwork fills ps's Ports and NetworkSettings from the container's endpoint.
func (d *Daemon) summaryNetwork(c *container.Container, s *ctypes.Summary) {
	ns := d.networkSettings(c)
	s.NetworkSettings = &ctypes.NetworkSettingsSummary{Networks: ns.Networks}
	for p, bs := range ns.Ports {
		if len(bs) == 0 {
			s.Ports = append(s.Ports, ctypes.PortSummary{PrivatePort: p.Num(), Type: string(p.Proto())})
		}
		for _, b := range bs {
			hp, _ := strconv.Atoi(b.HostPort)
			s.Ports = append(s.Ports, ctypes.PortSummary{IP: b.HostIP, PrivatePort: p.Num(), PublicPort: uint16(hp), Type: string(p.Proto())})
		}
	}
}
