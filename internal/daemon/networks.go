package daemon

// Networks: the default bridge network (`bridge`: device -b, default berth0; address --bip,
// default 172.29.0.1/16) and user-defined bridge networks. A container on a network gets, when it
// starts, a veth pair into its network namespace (eth0, eth1... with an address from the
// network's IPAM, Docker's MAC derived from the address, a default route via the first network's
// gateway), its published ports as DNAT rules in berth's own nftables table and, on user-defined
// networks, an embedded DNS server at 127.0.0.11. All of it is undone when the container stops.
//
// Persistence:
//   - user-defined networks, and each container's network configuration (the networks it is
//     connected to, with aliases and static addresses) in bbolt, <data-root>/network/metadata.db:
//     bucket "networks" id -> netDef (JSON), bucket "containers" container id -> map name -> EndpointSettings;
//   - the endpoints of running containers in <exec-root>/network/endpoints/<id>.json: a
//     restarted daemon reloads those of containers still running (their addresses stay theirs,
//     the table is put back in one atomic transaction) and undoes the others.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berthproject/berth/internal/atomicfile"
	"github.com/berthproject/berth/internal/container"
	"github.com/berthproject/berth/internal/errdefs"
	"github.com/berthproject/berth/internal/metadata"
	"github.com/berthproject/berth/internal/network"
	ctypes "github.com/moby/moby/api/types/container"
	nettypes "github.com/moby/moby/api/types/network"
	bolt "go.etcd.io/bbolt"
)

// Defaults of the default bridge: Docker's are docker0 and 172.17.0.1/16; berth's differ so
// that berthd and dockerd can run side by side.
const (
	defaultBridgeName = "berth0"
	defaultBridgeIP   = "172.29.0.1/16"
	bridgeNameOption  = "com.docker.network.bridge.name"
	netSchema         = "1"
)

var (
	bucketNetworks   = []byte("networks")
	bucketContainers = []byte("containers")
)

// netDef is a network's definition.
type netDef struct {
	ID       string       `json:"id"`
	Name     string       `json:"name"`
	Device   string       `json:"device"`
	Subnet   netip.Prefix `json:"subnet"`
	Gateway  netip.Addr   `json:"gateway"`
	IPRange  netip.Prefix `json:"ip_range,omitzero"`
	Internal bool         `json:"internal,omitempty"`
	// An --ipv6 network's IPv6 subnet (ULA, given or allocated), gateway and range.
	EnableIPv6 bool         `json:"enable_ipv6,omitempty"`
	Subnet6    netip.Prefix `json:"subnet6,omitzero"`
	Gateway6   netip.Addr   `json:"gateway6,omitzero"`
	IPRange6   netip.Prefix `json:"ip_range6,omitzero"`
	// The daemon picked the gateway of a subnet the user gave: network inspect leaves it out of
	// the IPAM configuration, as dockerd does.
	HideGateway  bool              `json:"hide_gateway,omitempty"`
	HideGateway6 bool              `json:"hide_gateway6,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
	Options      map[string]string `json:"options,omitempty"`
	Created      time.Time         `json:"created"`
	Default      bool              `json:"-"` // the default bridge: no DNS, not removable
	Driver       string            `json:"-"` // "" (bridge), or host and null for the pseudo-networks
}

type bridgeNet struct {
	def   netDef
	ipam  *network.IPAM
	ipam6 *network.IPAM // nil unless EnableIPv6
}

// netController owns the networks and the endpoints.
type netController struct {
	mu       sync.Mutex
	db       *bolt.DB
	configs  *netConfigs           // each container's network configuration
	nets     map[string]*bridgeNet // by id
	fw       network.Firewall
	reserved map[string][]*network.Reservation // published host ports held, by container id
	dir      string
	eps      map[string][]*endpoint // by container id
	dns      map[string]*network.DNSServer
	upstream []string
	started  time.Time // the default bridge's creation time, as shown
	pseudo   []netDef  // host and none, listed as Docker lists them
}

// endpoint is one container's attachment to one network.
type endpoint struct {
	Container  string             `json:"container"`
	Network    string             `json:"network"` // id
	EndpointID string             `json:"endpoint_id"`
	HostVeth   string             `json:"host_veth"`
	IfName     string             `json:"if_name"`
	Addr       netip.Prefix       `json:"addr"`
	Gateway    netip.Addr         `json:"gateway"`
	Addr6      netip.Prefix       `json:"addr6,omitzero"`
	Gateway6   netip.Addr         `json:"gateway6,omitzero"`
	MAC        string             `json:"mac"`
	Aliases    []string           `json:"aliases,omitempty"`
	Ports      []network.PortRule `json:"ports,omitempty"`
}

// openNetwork sets up the default bridge (-b, --bip), opens the user networks and loads the
// endpoints of the previous run. -b none turns the default bridge off, as Docker's.
func (d *Daemon) openNetwork() error {
	dir := filepath.Join(d.cfg.DataRoot, "network")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	db, err := metadata.Open(filepath.Join(dir, "metadata.db"), netSchema, bucketNetworks, bucketContainers)
	if err != nil {
		return err
	}
	configs, err := loadNetConfigs(db)
	if err != nil {
		db.Close()
		return err
	}
	name := d.cfg.Bridge
	if name == "" {
		name = defaultBridgeName
	}
	table := "berth"
	if name != defaultBridgeName {
		table = "berth-" + name
	}
	fw, err := network.NewFirewall(d.cfg.FirewallBackend, table)
	if err != nil {
		return err
	}
	d.log.Debug("firewall", "backend", fw.Backend())
	n := &netController{db: db, configs: configs, nets: map[string]*bridgeNet{}, fw: fw, reserved: map[string][]*network.Reservation{},
		dir: filepath.Join(d.cfg.ExecRoot, "network", "endpoints"), eps: map[string][]*endpoint{},
		dns: map[string]*network.DNSServer{}, upstream: network.HostResolvers("/etc/resolv.conf"), started: time.Now().UTC()}
	for _, p := range []struct{ name, driver string }{{"host", "host"}, {"none", "null"}} {
		sum := sha256.Sum256([]byte(d.id + "/" + p.name))
		n.pseudo = append(n.pseudo, netDef{ID: hex.EncodeToString(sum[:]), Name: p.name, Driver: p.driver, Default: true})
	}
	if name != "none" {
		bip := d.cfg.BIP
		if bip == "" {
			bip = defaultBridgeIP
		}
		gw, err := netip.ParsePrefix(bip)
		if err != nil || !gw.Addr().Is4() {
			return fmt.Errorf("--bip %q: an IPv4 address with a prefix length is needed", bip)
		}
		sum := sha256.Sum256([]byte(d.id + "/bridge/" + name))
		def := netDef{ID: hex.EncodeToString(sum[:]), Name: "bridge", Device: name, Subnet: gw.Masked(), Gateway: gw.Addr(),
			Default: true, Options: map[string]string{bridgeNameOption: name, "com.docker.network.bridge.default_bridge": "true",
				"com.docker.network.bridge.enable_icc": "true", "com.docker.network.bridge.enable_ip_masquerade": "true",
				"com.docker.network.bridge.host_binding_ipv4": "0.0.0.0", "com.docker.network.driver.mtu": "1500"}}
		if err := n.up(def); err != nil {
			return err
		}
	}
	var defs []netDef
	db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketNetworks).ForEach(func(k, v []byte) error {
			var def netDef
			if json.Unmarshal(v, &def) == nil {
				defs = append(defs, def)
			}
			return nil
		})
	})
	for _, def := range defs {
		if err := n.up(def); err != nil {
			d.log.Warn("network not restored", "network", def.Name, "err", err)
		}
	}
	if err := os.MkdirAll(n.dir, 0o700); err != nil {
		return err
	}
	entries, _ := os.ReadDir(n.dir)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(n.dir, e.Name()))
		var eps []*endpoint
		if err != nil || json.Unmarshal(b, &eps) != nil {
			os.Remove(filepath.Join(n.dir, e.Name()))
			continue
		}
		for _, ep := range eps {
			if bn := n.nets[ep.Network]; bn != nil {
				bn.ipam.Allocate(ep.Container, ep.Addr.Addr())
				if bn.ipam6 != nil && ep.Addr6.IsValid() {
					bn.ipam6.Allocate(ep.Container, ep.Addr6.Addr())
				}
			}
			n.eps[ep.Container] = append(n.eps[ep.Container], ep)
		}
	}
	d.net = n
	return nil
}

// up makes a network's bridge and IPAM and adds it to the controller.
func (n *netController) up(def netDef) error {
	ipam, err := network.NewIPAM(def.Subnet, def.IPRange, def.Gateway)
	if err != nil {
		return err
	}
	bn := &bridgeNet{def: def, ipam: ipam}
	var gw6 netip.Prefix
	if def.EnableIPv6 {
		if bn.ipam6, err = network.NewIPAM(def.Subnet6, def.IPRange6, def.Gateway6); err != nil {
			return err
		}
		gw6 = netip.PrefixFrom(def.Gateway6, def.Subnet6.Bits())
	}
	if err := network.EnsureBridge(def.Device, netip.PrefixFrom(def.Gateway, def.Subnet.Bits()), gw6); err != nil {
		return err
	}
	n.nets[def.ID] = bn
	return nil
}

// applyFirewall puts the whole table in place from the controller's state. Callers hold n.mu.
func (n *netController) applyFirewall() error {
	var bridges []network.Bridge
	for _, bn := range n.nets {
		bridges = append(bridges, network.Bridge{Device: bn.def.Device, Subnet: bn.def.Subnet, Subnet6: bn.def.Subnet6, Internal: bn.def.Internal})
	}
	sort.Slice(bridges, func(i, j int) bool { return bridges[i].Device < bridges[j].Device })
	ports := map[string][]network.PortRule{}
	for id, eps := range n.eps {
		for _, ep := range eps {
			ports[id] = append(ports[id], ep.Ports...)
		}
	}
	if len(bridges) == 0 {
		// No bridge at all (-b none, no network created): no table either, and none left over.
		return n.fw.Delete()
	}
	return n.fw.Apply(bridges, ports)
}

// reconcileNetwork, once the containers are restored, undoes the endpoints of containers that
// are not running, restarts the DNS servers of those that are, and puts the table back.
func (d *Daemon) reconcileNetwork() error {
	n := d.net
	n.mu.Lock()
	var dead, alive []string
	for id := range n.eps {
		if c, err := d.containers.Get(id); err != nil || !c.Status.Alive() {
			dead = append(dead, id)
		} else {
			alive = append(alive, id)
		}
	}
	n.mu.Unlock()
	for _, id := range dead {
		d.releaseNetwork(id)
	}
	for _, id := range alive {
		if c, err := d.containers.Get(id); err == nil {
			if err := d.startDNS(c); err != nil {
				d.log.Warn("embedded DNS not restored", "container", id, "err", err)
			}
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, id := range alive { // hold their host ports again
		for _, ep := range n.eps[id] {
			for _, r := range ep.Ports {
				res, _, err := network.Reserve(r)
				if err != nil {
					d.log.Warn("published port not reserved again", "container", id, "port", r.HostPort, "err", err)
					continue
				}
				n.reserved[id] = append(n.reserved[id], res)
			}
		}
	}
	return n.applyFirewall()
}

// byName finds a network by name, full id or unique id prefix. Callers hold n.mu.
func (n *netController) byName(ref string) (*bridgeNet, error) {
	if ref == "default" {
		ref = "bridge"
	}
	for _, bn := range n.nets {
		if bn.def.Name == ref || bn.def.ID == ref {
			return bn, nil
		}
	}
	var found *bridgeNet
	for _, bn := range n.nets {
		if strings.HasPrefix(bn.def.ID, ref) {
			if found != nil {
				return nil, errdefs.InvalidArgument(fmt.Errorf("network %s is ambiguous", ref))
			}
			found = bn
		}
	}
	if found == nil {
		return nil, errdefs.NotFound(fmt.Errorf("network %s not found", ref))
	}
	return found, nil
}

// containerNetworks is the networks a container is configured on, by name, with their settings.
func (d *Daemon) containerNetworks(c *container.Container) map[string]*nettypes.EndpointSettings {
	out := map[string]*nettypes.EndpointSettings{}
	recorded := false
	if v := d.net.configs.get(c.ID); v != nil {
		recorded = json.Unmarshal(v, &out) == nil
	}
	if !recorded {
		mode := string(c.HostConfig.NetworkMode)
		if onNetwork(c.HostConfig) {
			if mode == "" || mode == "default" {
				mode = "bridge"
			}
			out[mode] = &nettypes.EndpointSettings{}
		}
	}
	return out
}

func (d *Daemon) saveContainerNetworks(id string, m map[string]*nettypes.EndpointSettings) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return d.net.configs.put(id, b)
}

// noBridge: -b none turned the default bridge off. As with dockerd, a container meant for it
// (no --network, or --network bridge) then runs with its loopback alone.
func (d *Daemon) noBridge(network string) bool {
	return d.cfg.Bridge == "none" && (network == "" || network == "default" || network == "bridge")
}

// onNetwork: the container's network mode puts it on a bridge network (not host, none, container:).
func onNetwork(h *ctypes.HostConfig) bool {
	m := string(h.NetworkMode)
	return m != "host" && m != "none" && !strings.HasPrefix(m, "container:")
}

// NetworkSetContainerConfig records, at create, the networks a container is to be connected to
// (its network mode and the request's endpoint settings for it); unknown networks are refused.
func (d *Daemon) NetworkSetContainerConfig(ctx context.Context, h *ctypes.HostConfig, nc *nettypes.NetworkingConfig) (func(id string) error, error) {
	if h == nil || !onNetwork(h) {
		return func(string) error { return nil }, nil
	}
	mode := string(h.NetworkMode)
	if d.noBridge(mode) {
		return func(string) error { return nil }, nil
	}
	if mode == "" || mode == "default" {
		mode = "bridge"
	}
	n := d.net
	n.mu.Lock()
	bn, err := n.byName(mode)
	n.mu.Unlock()
	if err != nil {
		// Not a 404: docker's CLI would take it for a missing image and pull.
		return nil, errdefs.InvalidArgument(err)
	}
	es := &nettypes.EndpointSettings{}
	if nc != nil {
		// Keyed by the network mode as given ("default" from docker's CLI), its name or its id.
		for _, k := range []string{string(h.NetworkMode), mode, bn.def.Name, bn.def.ID} {
			if e := nc.EndpointsConfig[k]; e != nil {
				es = e
				break
			}
		}
	}
	if bn.def.Default && (len(es.Aliases) > 0 || (es.IPAMConfig != nil && es.IPAMConfig.IPv4Address.IsValid())) {
		return nil, errdefs.InvalidArgument(errors.New("user specified IP address and network-scoped aliases are supported only for user defined networks"))
	}
	if bn.def.Default && mode == "bridge" && isZeroEndpoint(es) {
		// What containerNetworks derives from the network mode when nothing is recorded: the
		// record would cost a commit (two syncs) at every plain create.
		return func(string) error { return nil }, nil
	}
	m := map[string]*nettypes.EndpointSettings{bn.def.Name: es}
	return func(id string) error { return d.saveContainerNetworks(id, m) }, nil
}

// isZeroEndpoint: es asks for nothing (docker's CLI sends such settings for its network mode).
func isZeroEndpoint(es *nettypes.EndpointSettings) bool {
	b, err := json.Marshal(es)
	return err == nil && string(b) == zeroEndpointJSON
}

var zeroEndpointJSON = func() string {
	b, _ := json.Marshal(&nettypes.EndpointSettings{})
	return string(b)
}()

// reserveNetwork gives a container whose namespace is pinned at nsPath its endpoints on its
// networks: addresses, interface names, published ports, recorded. What its init reads (the
// /etc files) can be written from them; plumbNetwork then makes them real.
func (d *Daemon) reserveNetwork(c *container.Container) (err error) {
	if !onNetwork(c.HostConfig) {
		return nil
	}
	d.releaseNetwork(c.ID) // a previous run's, if the daemon died before cleaning up
	defer func() {
		if err != nil {
			d.releaseNetwork(c.ID)
		}
	}()
	nets := d.containerNetworks(c)
	mode := string(c.HostConfig.NetworkMode)
	if mode == "" || mode == "default" {
		mode = "bridge"
	}
	names := make([]string, 0, len(nets))
	for name := range nets {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool { // the network mode's network first: it has the default route
		if (names[i] == mode) != (names[j] == mode) {
			return names[i] == mode
		}
		return names[i] < names[j]
	})
	for _, name := range names {
		if d.noBridge(name) {
			continue
		}
		if _, err := d.reserveEndpoint(c, name, nets[name]); err != nil {
			return err
		}
	}
	return nil
}

// plumbNetwork makes the endpoints reserveNetwork gave a container: veths in its namespace at
// nsPath, port rules, the embedded DNS server. A failure releases them all.
func (d *Daemon) plumbNetwork(c *container.Container, nsPath string) (err error) {
	n := d.net
	n.mu.Lock()
	eps := slices.Clone(n.eps[c.ID])
	n.mu.Unlock()
	if len(eps) == 0 {
		return nil
	}
	defer func() {
		if err != nil {
			d.releaseNetwork(c.ID)
		}
	}()
	for _, ep := range eps {
		if err := d.plumbEndpoint(c.ID, nsPath, ep); err != nil {
			return err
		}
	}
	return d.startDNS(c)
}

// connectEndpoint makes one endpoint of c on the network named name, in its namespace at nsPath.
func (d *Daemon) connectEndpoint(c *container.Container, nsPath, name string, es *nettypes.EndpointSettings) error {
	ep, err := d.reserveEndpoint(c, name, es)
	if err != nil {
		return err
	}
	return d.plumbEndpoint(c.ID, nsPath, ep)
}

// reserveEndpoint records an endpoint of c on the network named name: its addresses, MAC,
// interface name and (on a first endpoint) published ports, held.
func (d *Daemon) reserveEndpoint(c *container.Container, name string, es *nettypes.EndpointSettings) (*endpoint, error) {
	n := d.net
	n.mu.Lock()
	defer n.mu.Unlock()
	bn, err := n.byName(name)
	if err != nil {
		return nil, err
	}
	for _, ep := range n.eps[c.ID] {
		if ep.Network == bn.def.ID {
			return nil, errdefs.Forbidden(fmt.Errorf("endpoint with name %s already exists in network %s", c.Name, bn.def.Name))
		}
	}
	var want, want6 netip.Addr
	if es != nil && es.IPAMConfig != nil {
		want, want6 = es.IPAMConfig.IPv4Address, es.IPAMConfig.IPv6Address
	}
	if want6.IsValid() && bn.ipam6 == nil {
		return nil, errdefs.InvalidArgument(fmt.Errorf("invalid IPv6 address %s: network %s has no IPv6", want6, bn.def.Name))
	}
	ip, err := bn.ipam.Allocate(c.ID, want)
	if err != nil {
		return nil, errdefs.InvalidArgument(err)
	}
	var ip6 netip.Addr
	if bn.ipam6 != nil {
		if ip6, err = bn.ipam6.Allocate(c.ID, want6); err != nil {
			bn.ipam.Release(c.ID, ip)
			return nil, errdefs.InvalidArgument(err)
		}
	}
	release := func() {
		bn.ipam.Release(c.ID, ip)
		if ip6.IsValid() {
			bn.ipam6.Release(c.ID, ip6)
		}
	}
	sum := sha256.Sum256([]byte(c.ID + "/" + bn.def.ID))
	hexs := hex.EncodeToString(sum[:])
	ep := &endpoint{Container: c.ID, Network: bn.def.ID, EndpointID: hexs, HostVeth: "veth" + hexs[:11],
		IfName: freeIfName(n.eps[c.ID]), Addr: netip.PrefixFrom(ip, bn.def.Subnet.Bits())}
	// The default route goes through the first network that can give one.
	if !bn.def.Internal && !slices.ContainsFunc(n.eps[c.ID], func(e *endpoint) bool { return e.Gateway.IsValid() }) {
		ep.Gateway = bn.def.Gateway
	}
	if ip6.IsValid() {
		ep.Addr6 = netip.PrefixFrom(ip6, bn.def.Subnet6.Bits())
		if !bn.def.Internal && !slices.ContainsFunc(n.eps[c.ID], func(e *endpoint) bool { return e.Gateway6.IsValid() }) {
			ep.Gateway6 = bn.def.Gateway6
		}
	}
	if es != nil {
		ep.Aliases = es.Aliases
	}
	mac := network.MACFromIP(ip)
	if es != nil && len(es.MacAddress) > 0 {
		mac = net.HardwareAddr(es.MacAddress)
	}
	ep.MAC = mac.String()
	if len(n.eps[c.ID]) == 0 { // ports are published on the first network, as Docker's
		var held []*network.Reservation
		if ep.Ports, held, err = d.portRules(c, ip, ip6); err != nil {
			release()
			if errdefs.Is(err, errdefs.KindInvalidArgument) {
				return nil, err
			}
			// A 500, as dockerd's.
			return nil, fmt.Errorf("driver failed programming external connectivity on endpoint %s (%s): %v", strings.TrimPrefix(c.Name, "/"), hexs, err)
		}
		n.reserved[c.ID] = held
	}
	n.eps[c.ID] = append(n.eps[c.ID], ep)
	if err := n.saveEndpoints(c.ID); err != nil {
		d.dropEndpoint(c.ID, ep)
		return nil, err
	}
	return ep, nil
}

// plumbEndpoint makes a reserved endpoint of container id real: its veth, in the namespace at
// nsPath, and its port rules. A failure undoes this endpoint only; the container's others stay.
func (d *Daemon) plumbEndpoint(id, nsPath string, ep *endpoint) error {
	n := d.net
	n.mu.Lock()
	defer n.mu.Unlock()
	bn := n.nets[ep.Network]
	if bn == nil {
		d.dropEndpoint(id, ep)
		return errdefs.NotFound(fmt.Errorf("network %s not found", ep.Network))
	}
	mac, err := net.ParseMAC(ep.MAC)
	if err == nil {
		err = network.AttachVeth(nsPath, network.Interface{HostVeth: ep.HostVeth, Bridge: bn.def.Device, Name: ep.IfName,
			Addr: ep.Addr, Gateway: ep.Gateway, Addr6: ep.Addr6, Gateway6: ep.Gateway6, MAC: mac})
	}
	if err == nil {
		err = n.fw.AddPorts(id, ep.Ports)
	}
	if err != nil {
		d.dropEndpoint(id, ep)
	}
	return err
}

// dropEndpoint undoes one endpoint of container id: its port rules and reservations, its veth,
// its addresses, its record. Callers hold n.mu.
func (d *Daemon) dropEndpoint(id string, ep *endpoint) {
	n := d.net
	if len(ep.Ports) > 0 { // only a first endpoint has ports
		n.fw.RemovePorts(id)
		n.releasePorts(id)
	}
	n.eps[id] = slices.DeleteFunc(n.eps[id], func(e *endpoint) bool { return e == ep })
	if len(n.eps[id]) == 0 {
		delete(n.eps, id)
	}
	d.undoEndpoints([]*endpoint{ep}, false)
	n.saveEndpoints(id)
}

// saveEndpoints records a container's endpoints. Callers hold n.mu.
func (n *netController) saveEndpoints(id string) error {
	p := filepath.Join(n.dir, id+".json")
	if len(n.eps[id]) == 0 {
		os.Remove(p)
		return nil
	}
	b, err := json.Marshal(n.eps[id])
	if err != nil {
		return err
	}
	return atomicfile.WriteFileNoSync(p, b, 0o600)
}

// releaseNetwork undoes all of a container's endpoints: DNS, rules, veths, addresses.
func (d *Daemon) releaseNetwork(id string) {
	n := d.net
	n.mu.Lock()
	s := n.dns[id]
	delete(n.dns, id)
	n.mu.Unlock()
	if s != nil {
		s.Stop() // unlocked: a query being answered takes n.mu
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	eps := n.eps[id]
	if len(eps) == 0 {
		return
	}
	delete(n.eps, id)
	n.releasePorts(id)
	ports := false
	for _, ep := range eps {
		ports = ports || len(ep.Ports) > 0
	}
	if ports {
		if err := n.fw.RemovePorts(id); err != nil {
			d.log.Warn("remove port rules", "container", id, "err", err)
		}
	}
	// The namespace goes right after (every caller removes it): its veths go with it.
	d.undoEndpoints(eps, true)
	n.saveEndpoints(id)
}

// undoEndpoints removes veths (with detachOnly, takes them off their bridges: they go with
// their namespace) and releases addresses. Callers hold n.mu.
func (d *Daemon) undoEndpoints(eps []*endpoint, detachOnly bool) {
	for _, ep := range eps {
		undo := network.DeleteLink
		if detachOnly {
			undo = network.DetachLink
		}
		if err := undo(ep.HostVeth); err != nil {
			d.log.Warn("remove veth", "container", ep.Container, "err", err)
		}
		if bn := d.net.nets[ep.Network]; bn != nil {
			bn.ipam.Release(ep.Container, ep.Addr.Addr())
			if bn.ipam6 != nil && ep.Addr6.IsValid() {
				bn.ipam6.Release(ep.Container, ep.Addr6.Addr())
			}
		}
	}
}

// forgetContainerNetworks drops a removed container's network configuration.
func (d *Daemon) forgetContainerNetworks(id string) {
	d.net.configs.remove(id)
}

// startDNS serves names to a container on a user-defined network.
func (d *Daemon) startDNS(c *container.Container) error {
	n := d.net
	n.mu.Lock()
	user := false
	for _, ep := range n.eps[c.ID] {
		if bn := n.nets[ep.Network]; bn != nil && !bn.def.Default {
			user = true
		}
	}
	running := n.dns[c.ID] != nil
	n.mu.Unlock()
	if !user || running {
		return nil
	}
	id := c.ID
	upstream := n.upstream
	if len(c.HostConfig.DNS) > 0 { // --dns: the embedded server forwards there
		upstream = nil
		for _, a := range c.HostConfig.DNS {
			upstream = append(upstream, a.String())
		}
	}
	s, err := network.StartDNS(d.netnsPath(id), func(name string) ([]netip.Addr, bool) { return d.resolveName(id, name) }, upstream)
	if err != nil {
		return fmt.Errorf("embedded DNS: %w", err)
	}
	n.mu.Lock()
	n.dns[id] = s
	n.mu.Unlock()
	return nil
}

// resolveName answers name for container from: the containers sharing a user-defined network with
// it, by name, alias or short id.
func (d *Daemon) resolveName(from, name string) ([]netip.Addr, bool) {
	n := d.net
	n.mu.Lock()
	defer n.mu.Unlock()
	var mine []string
	for _, ep := range n.eps[from] {
		if bn := n.nets[ep.Network]; bn != nil && !bn.def.Default {
			mine = append(mine, ep.Network)
		}
	}
	var out []netip.Addr
	for id, eps := range n.eps {
		c, err := d.containers.Get(id)
		if err != nil {
			continue
		}
		for _, ep := range eps {
			if !slices.Contains(mine, ep.Network) {
				continue
			}
			if strings.EqualFold(c.Name, name) || strings.EqualFold(id[:12], name) || slices.ContainsFunc(ep.Aliases, func(a string) bool { return strings.EqualFold(a, name) }) {
				out = append(out, ep.Addr.Addr())
				if ep.Addr6.IsValid() { // AAAA
					out = append(out, ep.Addr6.Addr())
				}
			}
		}
	}
	return out, len(out) > 0
}

// usesEmbeddedDNS: the container's resolv.conf points at 127.0.0.11.
func (d *Daemon) usesEmbeddedDNS(c *container.Container) bool {
	n := d.net
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, ep := range n.eps[c.ID] {
		if bn := n.nets[ep.Network]; bn != nil && !bn.def.Default {
			return true
		}
	}
	return false
}

// portRules turns the container's port bindings (and, with -P, its exposed ports) into rules
// for its addresses ip and, on an IPv6 network, ip6, and holds each host port (see
// network.Reservation). A binding without a host address is published on IPv6 too when the
// container has an IPv6 address, on the same port, as Docker's.
func (d *Daemon) portRules(c *container.Container, ip, ip6 netip.Addr) (out []network.PortRule, held []*network.Reservation, err error) {
	defer func() {
		if err != nil {
			for _, r := range held {
				r.Release()
			}
			held = nil
		}
	}()
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
	ports := make([]nettypes.Port, 0, len(bindings))
	for p := range bindings {
		ports = append(ports, p)
	}
	sort.Slice(ports, func(i, j int) bool { return ports[i].String() < ports[j].String() })
	for _, p := range ports {
		for _, b := range bindings[p] {
			r := network.PortRule{Proto: string(p.Proto()), HostIP: b.HostIP, ContainerIP: ip, ContainerPort: p.Num()}
			if b.HostIP.Is6() {
				if !ip6.IsValid() {
					return nil, held, errdefs.InvalidArgument(fmt.Errorf("host address %s: the container has no IPv6 address (its network is not --ipv6)", b.HostIP))
				}
				r.ContainerIP = ip6
			}
			res, hp, err := reserveHostPort(r, b.HostPort)
			if err != nil {
				return nil, held, err
			}
			held = append(held, res)
			r.HostPort = hp
			out = append(out, r)
			if !b.HostIP.IsValid() && ip6.IsValid() {
				r6 := r
				r6.HostIP, r6.ContainerIP = netip.IPv6Unspecified(), ip6
				res, _, err := network.Reserve(r6)
				if err != nil {
					return nil, held, err
				}
				held = append(held, res)
				out = append(out, r6)
			}
		}
	}
	return out, held, nil
}

// reserveHostPort holds r's host port given as spec: that port, the first free one of a range,
// or one the kernel picks in its ephemeral range when empty.
func reserveHostPort(r network.PortRule, spec string) (*network.Reservation, uint16, error) {
	lo, hi := 0, 0
	if spec != "" {
		a, b, isRange := strings.Cut(spec, "-")
		var err error
		if lo, err = strconv.Atoi(a); err != nil || lo < 0 || lo > 65535 {
			return nil, 0, errdefs.InvalidArgument(fmt.Errorf("invalid host port %q", spec))
		}
		hi = lo
		if isRange {
			if hi, err = strconv.Atoi(b); err != nil || hi < lo || hi > 65535 {
				return nil, 0, errdefs.InvalidArgument(fmt.Errorf("invalid host port range %q", spec))
			}
		}
	}
	var err error
	for p := lo; p <= hi; p++ {
		r.HostPort = uint16(p)
		var res *network.Reservation
		var got uint16
		if res, got, err = network.Reserve(r); err == nil {
			return res, got, nil
		}
	}
	if lo != hi {
		return nil, 0, fmt.Errorf("no free host port in %s: %w", spec, err)
	}
	return nil, 0, err
}

// releasePorts frees the host ports a container holds. Callers hold n.mu.
func (n *netController) releasePorts(id string) {
	for _, r := range n.reserved[id] {
		r.Release()
	}
	delete(n.reserved, id)
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

// networkSettings is a container's NetworkSettings as Docker's inspect shows them.
func (d *Daemon) networkSettings(c *container.Container) *ctypes.NetworkSettings {
	s := &ctypes.NetworkSettings{Ports: nettypes.PortMap{}, Networks: map[string]*nettypes.EndpointSettings{}}
	if m := string(c.HostConfig.NetworkMode); m == "host" || m == "none" {
		s.Networks[m] = &nettypes.EndpointSettings{}
		return s
	}
	if !onNetwork(c.HostConfig) {
		return s
	}
	n := d.net
	cfg, recorded := n.configs.shared(c.ID) // only read here
	if !recorded {
		cfg = d.containerNetworks(c)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for name, req := range cfg {
		bn, err := n.byName(name)
		if err != nil {
			if d.noBridge(name) {
				s.Networks[name] = &nettypes.EndpointSettings{} // as dockerd shows it: no endpoint
			}
			continue
		}
		es := &nettypes.EndpointSettings{NetworkID: bn.def.ID, IPAMConfig: req.IPAMConfig, Aliases: req.Aliases}
		if !bn.def.Default {
			es.DNSNames = append([]string{c.Name, c.ID[:12]}, req.Aliases...)
		}
		s.Networks[bn.def.Name] = es
	}
	if !c.Status.Alive() {
		return s
	}
	for _, ep := range n.eps[c.ID] {
		bn := n.nets[ep.Network]
		if bn == nil {
			continue
		}
		es := s.Networks[bn.def.Name]
		if es == nil {
			es = &nettypes.EndpointSettings{NetworkID: bn.def.ID}
			s.Networks[bn.def.Name] = es
		}
		s.SandboxKey = d.netnsPath(c.ID)
		s.SandboxID = hex.EncodeToString([]byte(c.ID[:32]))[:64]
		es.EndpointID, es.IPAddress, es.IPPrefixLen = ep.EndpointID, ep.Addr.Addr(), ep.Addr.Bits()
		if !bn.def.Internal {
			es.Gateway = bn.def.Gateway
		}
		if ep.Addr6.IsValid() {
			es.GlobalIPv6Address, es.GlobalIPv6PrefixLen, es.IPv6Gateway = ep.Addr6.Addr(), ep.Addr6.Bits(), ep.Gateway6
		}
		if mac, err := net.ParseMAC(ep.MAC); err == nil {
			es.MacAddress = nettypes.HardwareAddr(mac)
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
	}
	for p := range d.exposedPorts(c) {
		if _, ok := s.Ports[p]; !ok {
			s.Ports[p] = nil
		}
	}
	return s
}

// summaryNetwork fills ps's Ports and NetworkSettings from the container's endpoints.
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

// containerAddr is the container's address on its first network, if it has one.
func (d *Daemon) containerAddr(id string) (netip.Addr, bool) {
	d.net.mu.Lock()
	defer d.net.mu.Unlock()
	if eps := d.net.eps[id]; len(eps) > 0 {
		return eps[0].Addr.Addr(), true
	}
	return netip.Addr{}, false
}

// containerAddr6 is the container's IPv6 address on its first network, if it has one.
func (d *Daemon) containerAddr6(id string) (netip.Addr, bool) {
	d.net.mu.Lock()
	defer d.net.mu.Unlock()
	if eps := d.net.eps[id]; len(eps) > 0 && eps[0].Addr6.IsValid() {
		return eps[0].Addr6.Addr(), true
	}
	return netip.Addr{}, false
}

// newNetworkID is a random 64-hex id.
func newNetworkID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// resolvConf is the container's resolv.conf from the host's (loopback servers already dropped):
// on a user-defined network the embedded server (which forwards to the host's resolvers or
// --dns), else --dns in place of the host's servers; --dns-search and --dns-option replace the
// host's search and options lines.
func (d *Daemon) resolvConf(c *container.Container, host []byte) []byte {
	h := c.HostConfig
	embedded := d.usesEmbeddedDNS(c)
	if !embedded && len(h.DNS) == 0 && len(h.DNSSearch) == 0 && len(h.DNSOptions) == 0 {
		return host
	}
	var servers, search, options, other []string
	for _, line := range strings.Split(string(host), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 2 && f[0] == "nameserver":
			servers = append(servers, f[1])
		case len(f) >= 2 && (f[0] == "search" || f[0] == "domain"):
			search = append(search, f[1:]...)
		case len(f) >= 2 && f[0] == "options":
			options = append(options, f[1:]...)
		case strings.TrimSpace(line) != "":
			other = append(other, line)
		}
	}
	if len(h.DNS) > 0 {
		servers = nil
		for _, a := range h.DNS {
			servers = append(servers, a.String())
		}
	}
	if embedded {
		servers = []string{network.DNSAddr}
	}
	if len(h.DNSSearch) > 0 {
		search = h.DNSSearch
		if len(search) == 1 && search[0] == "." {
			search = nil
		}
	}
	if len(h.DNSOptions) > 0 {
		options = h.DNSOptions
	}
	if embedded && !slices.ContainsFunc(options, func(o string) bool { return strings.HasPrefix(o, "ndots:") }) {
		options = append(options, "ndots:0")
	}
	var b strings.Builder
	for _, l := range other {
		b.WriteString(l + "\n")
	}
	for _, s := range servers {
		b.WriteString("nameserver " + s + "\n")
	}
	if len(search) > 0 {
		b.WriteString("search " + strings.Join(search, " ") + "\n")
	}
	if len(options) > 0 {
		b.WriteString("options " + strings.Join(options, " ") + "\n")
	}
	return []byte(b.String())
}

// networkExists: ref names a network.
func (d *Daemon) networkExists(ref string) bool {
	d.net.mu.Lock()
	defer d.net.mu.Unlock()
	_, err := d.net.byName(ref)
	return err == nil
}

// extraHosts are the /etc/hosts lines of --add-host (name:ip; host-gateway is the gateway of the
// container's first network) and of --link (name:alias, the linked container's address with the
// alias, its hostname and its name), as Docker writes them.
func (d *Daemon) extraHosts(c *container.Container) []byte {
	var b strings.Builder
	for _, h := range c.HostConfig.ExtraHosts {
		name, ip, ok := strings.Cut(h, ":")
		if !ok {
			continue
		}
		if ip == "host-gateway" {
			gw, ok := d.firstGateway(c.ID)
			if !ok {
				continue
			}
			ip = gw.String()
		}
		b.WriteString(strings.Trim(ip, "[]") + "\t" + name + "\n")
	}
	for _, l := range c.HostConfig.Links {
		name, alias, ok := strings.Cut(l, ":")
		if !ok {
			alias = name
		}
		name = strings.TrimPrefix(name, "/")
		_, alias = filepath.Split(alias)
		child, err := d.containers.Get(name)
		if err != nil {
			continue
		}
		ip, ok := d.containerAddr(child.ID)
		if !ok {
			continue
		}
		line := alias + " " + child.Config.Hostname
		if alias != child.Name {
			line += " " + child.Name
		}
		b.WriteString(ip.String() + "\t" + line + "\n")
	}
	return []byte(b.String())
}

// firstGateway is the gateway of the container's first network.
func (d *Daemon) firstGateway(id string) (netip.Addr, bool) {
	d.net.mu.Lock()
	defer d.net.mu.Unlock()
	for _, ep := range d.net.eps[id] {
		if bn := d.net.nets[ep.Network]; bn != nil {
			return bn.def.Gateway, true
		}
	}
	return netip.Addr{}, false
}

// joinNetwork, for --network container:<id>, is the namespace of that container (which must be
// running); "" for any other mode.
func (d *Daemon) joinNetwork(c *container.Container) (string, error) {
	mode := c.HostConfig.NetworkMode
	if !mode.IsContainer() {
		return "", nil
	}
	other, err := d.containers.Get(mode.ConnectedContainer())
	if err != nil {
		return "", err
	}
	if !other.Status.Alive() {
		return "", errdefs.Conflict(fmt.Errorf("cannot join network namespace of a non running container: container %s is %s", other.ID[:12], other.Status))
	}
	if other.HostConfig.NetworkMode == "host" {
		return "host", nil
	}
	if other.HostConfig.NetworkMode.IsContainer() {
		return d.joinNetwork(other)
	}
	return d.netnsPath(other.ID), nil
}

// freeIfName is the lowest ethN none of eps uses.
func freeIfName(eps []*endpoint) string {
	for i := 0; ; i++ {
		name := fmt.Sprintf("eth%d", i)
		if !slices.ContainsFunc(eps, func(ep *endpoint) bool { return ep.IfName == name }) {
			return name
		}
	}
}
