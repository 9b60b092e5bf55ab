package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/berthproject/berth/internal/container"
	"github.com/berthproject/berth/internal/errdefs"
	"github.com/berthproject/berth/internal/filters"
	"github.com/berthproject/berth/internal/network"
	evtypes "github.com/moby/moby/api/types/events"
	nettypes "github.com/moby/moby/api/types/network"
	"github.com/vishvananda/netlink"
	bolt "go.etcd.io/bbolt"
)

var validNetworkName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// NetworkCreate answers POST /networks/create.
func (d *Daemon) NetworkCreate(ctx context.Context, req nettypes.CreateRequest) (*nettypes.CreateResponse, error) {
	if !validNetworkName.MatchString(req.Name) {
		return nil, errdefs.InvalidArgument(fmt.Errorf("invalid network name %q", req.Name))
	}
	switch req.Name {
	case "bridge", "host", "none", "default":
		return nil, errdefs.Forbidden(fmt.Errorf("%s is a pre-defined network and cannot be created", req.Name))
	}
	if req.Driver != "" && req.Driver != "bridge" {
		return nil, errdefs.NotFound(fmt.Errorf("plugin %q not found", req.Driver))
	}
	n := d.net
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, err := n.byName(req.Name); err == nil {
		return nil, errdefs.Conflict(fmt.Errorf("network with name %s already exists", req.Name))
	}
	def := netDef{ID: newNetworkID(), Name: req.Name, Internal: req.Internal, Labels: req.Labels, Options: req.Options, Created: time.Now().UTC(),
		EnableIPv6: req.EnableIPv6 != nil && *req.EnableIPv6}
	if req.IPAM != nil {
		// One IPv4 and, on an --ipv6 network, one IPv6 configuration.
		var seen4, seen6 bool
		for _, c := range req.IPAM.Config {
			if !c.Subnet.IsValid() {
				return nil, errdefs.InvalidArgument(errors.New("a subnet is needed with a gateway or an ip range"))
			}
			if c.Subnet != c.Subnet.Masked() {
				return nil, errdefs.InvalidArgument(fmt.Errorf("invalid subnet %s: it should be %s", c.Subnet, c.Subnet.Masked()))
			}
			for _, a := range []netip.Addr{c.Gateway, c.IPRange.Addr()} {
				if a.IsValid() && a.Is4() != c.Subnet.Addr().Is4() {
					return nil, errdefs.InvalidArgument(fmt.Errorf("%s and subnet %s are of different families", a, c.Subnet))
				}
			}
			if c.Subnet.Addr().Is4() {
				if seen4 {
					return nil, errdefs.InvalidArgument(errors.New("only one IPv4 subnet is supported per network"))
				}
				seen4 = true
				def.Subnet, def.IPRange, def.Gateway = c.Subnet, c.IPRange, c.Gateway
				continue
			}
			if !def.EnableIPv6 {
				return nil, errdefs.InvalidArgument(fmt.Errorf("subnet %s is IPv6: the network needs --ipv6", c.Subnet))
			}
			if seen6 {
				return nil, errdefs.InvalidArgument(errors.New("only one IPv6 subnet is supported per network"))
			}
			seen6 = true
			def.Subnet6, def.IPRange6, def.Gateway6 = c.Subnet, c.IPRange, c.Gateway
		}
	}
	if def.EnableIPv6 {
		subnet6Given := def.Subnet6.IsValid()
		if !subnet6Given {
			s, err := n.freeSubnet6(d.id)
			if err != nil {
				return nil, err
			}
			def.Subnet6 = s
		} else {
			for _, bn := range n.nets {
				if bn.def.Subnet6.IsValid() && bn.def.Subnet6.Overlaps(def.Subnet6) {
					return nil, errdefs.Forbidden(fmt.Errorf("invalid pool request: Pool overlaps with other one on this address space"))
				}
			}
		}
		if !def.Gateway6.IsValid() {
			def.HideGateway6 = subnet6Given
			def.Gateway6 = def.Subnet6.Addr().Next()
		} else if !def.Subnet6.Contains(def.Gateway6) {
			return nil, errdefs.InvalidArgument(fmt.Errorf("gateway %s is not in subnet %s", def.Gateway6, def.Subnet6))
		}
		if _, err := network.NewIPAM(def.Subnet6, def.IPRange6, def.Gateway6); err != nil {
			return nil, errdefs.InvalidArgument(err)
		}
	}
	subnetGiven := def.Subnet.IsValid()
	if !def.Subnet.IsValid() {
		s, err := n.freeSubnet()
		if err != nil {
			return nil, err
		}
		def.Subnet = s
	} else {
		for _, bn := range n.nets {
			if bn.def.Subnet.Overlaps(def.Subnet) {
				return nil, errdefs.Forbidden(fmt.Errorf("invalid pool request: Pool overlaps with other one on this address space"))
			}
		}
	}
	if !def.Gateway.IsValid() {
		def.HideGateway = subnetGiven
		def.Gateway = def.Subnet.Addr().Next()
	} else if !def.Subnet.Contains(def.Gateway) {
		return nil, errdefs.InvalidArgument(fmt.Errorf("gateway %s is not in subnet %s", def.Gateway, def.Subnet))
	}
	def.Device = req.Options[bridgeNameOption]
	if def.Device == "" {
		def.Device = "br-" + def.ID[:12]
	}
	if len(def.Device) > 15 {
		return nil, errdefs.InvalidArgument(fmt.Errorf("bridge name %q is longer than 15 characters", def.Device))
	}
	for _, bn := range n.nets {
		if bn.def.Device == def.Device {
			return nil, errdefs.Conflict(fmt.Errorf("bridge %s is used by network %s", def.Device, bn.def.Name))
		}
	}
	if _, err := network.NewIPAM(def.Subnet, def.IPRange, def.Gateway); err != nil {
		return nil, errdefs.InvalidArgument(err)
	}
	b, err := json.Marshal(def)
	if err != nil {
		return nil, err
	}
	if err := n.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketNetworks).Put([]byte(def.ID), b) }); err != nil {
		return nil, err
	}
	if err := n.up(def); err != nil {
		n.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketNetworks).Delete([]byte(def.ID)) })
		network.DeleteLink(def.Device)
		return nil, err
	}
	if err := n.applyFirewall(); err != nil {
		return nil, err
	}
	d.bus.Publish(networkEvent("create", def))
	return &nettypes.CreateResponse{ID: def.ID}, nil
}

// freeSubnet picks a /16 from 172.30-31, then a /20 from 192.168.0.0/16, overlapping neither a
// network of this daemon nor a route of the host (Docker's default pools, less 172.17-29).
// Callers hold n.mu.
func (n *netController) freeSubnet() (netip.Prefix, error) {
	var taken []netip.Prefix
	for _, bn := range n.nets {
		taken = append(taken, bn.def.Subnet)
	}
	if routes, err := netlink.RouteList(nil, netlink.FAMILY_V4); err == nil {
		for _, r := range routes {
			if r.Dst != nil {
				if p, ok := netip.AddrFromSlice(r.Dst.IP.To4()); ok {
					ones, _ := r.Dst.Mask.Size()
					if ones > 0 {
						taken = append(taken, netip.PrefixFrom(p, ones))
					}
				}
			}
		}
	}
	var candidates []netip.Prefix
	for i := 30; i <= 31; i++ {
		candidates = append(candidates, netip.MustParsePrefix(fmt.Sprintf("172.%d.0.0/16", i)))
	}
	for i := 0; i < 256; i += 16 {
		candidates = append(candidates, netip.MustParsePrefix(fmt.Sprintf("192.168.%d.0/20", i)))
	}
	for _, c := range candidates {
		free := true
		for _, t := range taken {
			if t.Overlaps(c) {
				free = false
				break
			}
		}
		if free {
			return c, nil
		}
	}
	return netip.Prefix{}, errdefs.Unavailable(errors.New("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network"))
}

// freeSubnet6 picks a /64 of berth's unique local /48 (fd and 40 bits of a hash of seed, the
// daemon's id, as RFC 4193's pseudo-random global id), overlapping neither a network of this
// daemon nor a route of the host. Callers hold n.mu.
func (n *netController) freeSubnet6(seed string) (netip.Prefix, error) {
	var taken []netip.Prefix
	for _, bn := range n.nets {
		if bn.def.Subnet6.IsValid() {
			taken = append(taken, bn.def.Subnet6)
		}
	}
	if routes, err := netlink.RouteList(nil, netlink.FAMILY_V6); err == nil {
		for _, r := range routes {
			if r.Dst != nil {
				if p, ok := netip.AddrFromSlice(r.Dst.IP); ok {
					if ones, _ := r.Dst.Mask.Size(); ones > 0 {
						taken = append(taken, netip.PrefixFrom(p, ones))
					}
				}
			}
		}
	}
	sum := sha256.Sum256([]byte("berth-ula/" + seed))
	var b [16]byte
	b[0] = 0xfd
	copy(b[1:6], sum[:5])
	for i := 0; i < 1<<16; i++ {
		b[6], b[7] = byte(i>>8), byte(i)
		c := netip.PrefixFrom(netip.AddrFrom16(b), 64)
		if !slices.ContainsFunc(taken, c.Overlaps) {
			return c, nil
		}
	}
	return netip.Prefix{}, errdefs.Unavailable(errors.New("could not find an available, non-overlapping IPv6 address pool to assign to the network"))
}

func networkEvent(action string, def netDef) evtypes.Message {
	return evtypes.Message{Type: evtypes.NetworkEventType, Action: evtypes.Action(action),
		Actor: evtypes.Actor{ID: def.ID, Attributes: map[string]string{"name": def.Name, "type": "bridge"}}}
}

// NetworkInspect answers GET /networks/{id}.
func (d *Daemon) NetworkInspect(ctx context.Context, ref string) (*nettypes.Inspect, error) {
	n := d.net
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range n.pseudo {
		if p.Name == ref || p.ID == ref || (len(ref) >= 12 && strings.HasPrefix(p.ID, ref)) {
			return &nettypes.Inspect{Network: d.networkOf(p), Containers: map[string]nettypes.EndpointResource{}}, nil
		}
	}
	bn, err := n.byName(ref)
	if err != nil {
		return nil, err
	}
	in := &nettypes.Inspect{Network: d.networkOf(bn.def), Containers: map[string]nettypes.EndpointResource{}}
	for id, eps := range n.eps {
		for _, ep := range eps {
			if ep.Network != bn.def.ID {
				continue
			}
			c, err := d.containers.Get(id)
			if err != nil {
				continue
			}
			r := nettypes.EndpointResource{Name: c.Name, EndpointID: ep.EndpointID, IPv4Address: ep.Addr, IPv6Address: ep.Addr6}
			if mac, err := parseMAC(ep.MAC); err == nil {
				r.MacAddress = mac
			}
			in.Containers[id] = r
		}
	}
	return in, nil
}

func parseMAC(s string) (nettypes.HardwareAddr, error) {
	var m nettypes.HardwareAddr
	err := m.UnmarshalText([]byte(s))
	return m, err
}

// networkOf is the API's view of a network. Callers hold n.mu.
func (d *Daemon) networkOf(def netDef) nettypes.Network {
	created := def.Created
	if def.Default {
		created = d.net.started
	}
	cfg := nettypes.IPAMConfig{Subnet: def.Subnet, IPRange: def.IPRange, Gateway: def.Gateway}
	if def.HideGateway {
		cfg.Gateway = netip.Addr{}
	}
	labels, opts := def.Labels, def.Options
	if labels == nil {
		labels = map[string]string{}
	}
	if opts == nil {
		opts = map[string]string{}
	}
	driver, configs := "bridge", []nettypes.IPAMConfig{cfg}
	if def.EnableIPv6 {
		cfg6 := nettypes.IPAMConfig{Subnet: def.Subnet6, IPRange: def.IPRange6, Gateway: def.Gateway6}
		if def.HideGateway6 {
			cfg6.Gateway = netip.Addr{}
		}
		configs = append(configs, cfg6)
	}
	if def.Driver != "" {
		driver, configs = def.Driver, []nettypes.IPAMConfig{}
	}
	return nettypes.Network{Name: def.Name, ID: def.ID, Created: created, Scope: "local", Driver: driver, EnableIPv4: def.Driver == "", EnableIPv6: def.EnableIPv6,
		IPAM: nettypes.IPAM{Driver: "default", Options: nil, Config: configs}, Internal: def.Internal,
		Options: opts, Labels: labels}
}

// NetworkList answers GET /networks: filters driver, id, label, name, scope, type, dangling.
func (d *Daemon) NetworkList(ctx context.Context, f filters.Args) ([]nettypes.Summary, error) {
	n := d.net
	inUse := map[string]bool{}
	for _, c := range d.containers.List() {
		for name := range d.containerNetworks(c) {
			inUse[name] = true
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []nettypes.Summary
	defs := append([]netDef{}, n.pseudo...)
	for _, bn := range n.nets {
		defs = append(defs, bn.def)
	}
	for _, def := range defs {
		driver := def.Driver
		if driver == "" {
			driver = "bridge"
		}
		if !f.MatchFunc("name", func(v string) bool { return strings.Contains(def.Name, v) }) || !f.Match("driver", driver) || !f.Match("scope", "local") {
			continue
		}
		if ids := f["id"]; len(ids) > 0 && !matchesPrefix(ids, def.ID) {
			continue
		}
		if !f.MatchLabels(def.Labels) {
			continue
		}
		if t := f["type"]; len(t) > 0 {
			kind := "custom"
			if def.Default {
				kind = "builtin"
			}
			if !contains(t, kind) {
				continue
			}
		}
		if dg := f["dangling"]; len(dg) > 0 {
			dangling := !def.Default && !inUse[def.Name]
			if (dg[0] == "true" || dg[0] == "1") != dangling {
				continue
			}
		}
		out = append(out, nettypes.Summary{Network: d.networkOf(def)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	if out == nil {
		out = []nettypes.Summary{}
	}
	return out, nil
}

func matchesPrefix(list []string, id string) bool {
	for _, p := range list {
		if strings.HasPrefix(id, p) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// NetworkRemove answers DELETE /networks/{id}.
func (d *Daemon) NetworkRemove(ctx context.Context, ref string) error {
	n := d.net
	n.mu.Lock()
	for _, p := range n.pseudo {
		if p.Name == ref || p.ID == ref {
			n.mu.Unlock()
			return errdefs.Forbidden(fmt.Errorf("%s is a pre-defined network and cannot be removed", p.Name))
		}
	}
	bn, err := n.byName(ref)
	n.mu.Unlock()
	if err != nil {
		return err
	}
	if bn.def.Default {
		return errdefs.Forbidden(fmt.Errorf("%s is a pre-defined network and cannot be removed", bn.def.Name))
	}
	for _, c := range d.containers.List() {
		if _, ok := d.containerNetworks(c)[bn.def.Name]; ok && c.Status.Alive() {
			return errdefs.Forbidden(fmt.Errorf("error while removing network: network %s id %s has active endpoints", bn.def.Name, bn.def.ID))
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketNetworks).Delete([]byte(bn.def.ID)) }); err != nil {
		return err
	}
	delete(n.nets, bn.def.ID)
	if err := network.DeleteLink(bn.def.Device); err != nil {
		d.log.Warn("remove bridge", "bridge", bn.def.Device, "err", err)
	}
	if err := n.applyFirewall(); err != nil {
		return err
	}
	d.bus.Publish(networkEvent("destroy", bn.def))
	return nil
}

// NetworkPrune answers POST /networks/prune: user networks no container uses.
func (d *Daemon) NetworkPrune(ctx context.Context, f filters.Args) (*nettypes.PruneReport, error) {
	if f == nil {
		f = filters.Args{}
	}
	f["dangling"] = []string{"true"}
	list, err := d.NetworkList(ctx, f)
	if err != nil {
		return nil, err
	}
	rep := &nettypes.PruneReport{NetworksDeleted: []string{}}
	for _, s := range list {
		if err := d.NetworkRemove(ctx, s.ID); err == nil {
			rep.NetworksDeleted = append(rep.NetworksDeleted, s.Name)
		}
	}
	return rep, nil
}

// NetworkConnect answers POST /networks/{id}/connect.
func (d *Daemon) NetworkConnect(ctx context.Context, ref string, req nettypes.ConnectRequest) error {
	c, err := d.containers.Get(req.Container)
	if err != nil {
		return err
	}
	if !onNetwork(c.HostConfig) {
		return errdefs.Forbidden(fmt.Errorf("container sharing network namespace with another container or host cannot be connected to any other network"))
	}
	n := d.net
	n.mu.Lock()
	bn, err := n.byName(ref)
	n.mu.Unlock()
	if err != nil {
		return err
	}
	es := req.EndpointConfig
	if es == nil {
		es = &nettypes.EndpointSettings{}
	}
	if bn.def.Default && (len(es.Aliases) > 0 || (es.IPAMConfig != nil && es.IPAMConfig.IPv4Address.IsValid())) {
		return errdefs.InvalidArgument(errors.New("user specified IP address and network-scoped aliases are supported only for user defined networks"))
	}
	nets := d.containerNetworks(c)
	if _, ok := nets[bn.def.Name]; ok {
		return errdefs.Forbidden(fmt.Errorf("endpoint with name %s already exists in network %s", c.Name, bn.def.Name))
	}
	if c.Status.Alive() {
		if err := d.connectEndpoint(c, d.netnsPath(c.ID), bn.def.Name, es); err != nil {
			return err
		}
		if err := d.startDNS(c); err != nil {
			return err
		}
	}
	nets[bn.def.Name] = es
	return d.saveContainerNetworks(c.ID, nets)
}

// NetworkDisconnect answers POST /networks/{id}/disconnect.
func (d *Daemon) NetworkDisconnect(ctx context.Context, ref string, req nettypes.DisconnectRequest) error {
	c, err := d.containers.Get(req.Container)
	if err != nil {
		return err
	}
	n := d.net
	n.mu.Lock()
	bn, err := n.byName(ref)
	n.mu.Unlock()
	if err != nil {
		return err
	}
	nets := d.containerNetworks(c)
	if _, ok := nets[bn.def.Name]; !ok {
		return errdefs.Forbidden(fmt.Errorf("container %s is not connected to network %s", c.ID[:12], bn.def.Name))
	}
	delete(nets, bn.def.Name)
	n.mu.Lock()
	var keep, gone []*endpoint
	for _, ep := range n.eps[c.ID] {
		if ep.Network == bn.def.ID {
			gone = append(gone, ep)
		} else {
			keep = append(keep, ep)
		}
	}
	if len(gone) > 0 {
		n.eps[c.ID] = keep
		if slices.ContainsFunc(gone, func(ep *endpoint) bool { return len(ep.Ports) > 0 }) {
			n.releasePorts(c.ID) // its published ports go with the endpoint that had them
		}
		d.undoEndpoints(gone, false)
		n.saveEndpoints(c.ID)
		if err := n.applyFirewall(); err != nil {
			n.mu.Unlock()
			return err
		}
	}
	n.mu.Unlock()
	if len(nets) == 0 {
		// As Docker: the record keeps the mode's network out; the container has none left.
		nets = map[string]*nettypes.EndpointSettings{}
	}
	return d.saveContainerNetworksAllowEmpty(c, nets)
}

// saveContainerNetworksAllowEmpty records nets; an empty set is recorded as such (not read back
// as "the network mode's network").
func (d *Daemon) saveContainerNetworksAllowEmpty(c *container.Container, nets map[string]*nettypes.EndpointSettings) error {
	if len(nets) == 0 {
		return d.net.configs.put(c.ID, []byte("{}"))
	}
	return d.saveContainerNetworks(c.ID, nets)
}
