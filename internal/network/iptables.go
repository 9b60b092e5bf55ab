package network

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/coreos/go-iptables/iptables"
)

// IPTables is the fallback for hosts without nftables: the same rules as NFTables, in berth's own
// chains (prefix P, from the table name: BERTH, or BERTH-<bridge>), through the iptables and
// ip6tables commands (coreos/go-iptables):
//
//	nat    P-PORTS  one DNAT rule per published port, commented with its owner;
//	                reached from PREROUTING and OUTPUT by "-m addrtype --dst-type LOCAL -j P-PORTS"
//	nat    P-POST   per bridge: masquerade the subnet leaving by another interface, 127.0.0.0/8
//	                sent to the bridge, and hairpin (DNAT'd, from the subnet back to the bridge);
//	                reached from POSTROUTING
//	filter P-FWD    isolation between bridges and of internal ones; reached from FORWARD (first)
//
// The host's chains get only those jumps. IPv6 chains exist while an IPv6 network or rule does.
type IPTables struct {
	prefix string
	v4, v6 *iptables.IPTables
}

// NewIPTables is the iptables firewall for berth's table name.
func NewIPTables(name string) (*IPTables, error) {
	v4, err := iptables.New(iptables.IPFamily(iptables.ProtocolIPv4))
	if err != nil {
		return nil, fmt.Errorf("iptables: %w", err)
	}
	v6, err := iptables.New(iptables.IPFamily(iptables.ProtocolIPv6))
	if err != nil {
		return nil, fmt.Errorf("ip6tables: %w", err)
	}
	return &IPTables{prefix: strings.ToUpper(name), v4: v4, v6: v6}, nil
}

// Backend is "iptables".
func (f *IPTables) Backend() string { return "iptables" }

func (f *IPTables) ports() string { return f.prefix + "-PORTS" }
func (f *IPTables) post() string  { return f.prefix + "-POST" }
func (f *IPTables) fwd() string   { return f.prefix + "-FWD" }

// jumps are the only rules berth puts in the host's chains: table, chain, rule.
func (f *IPTables) jumps() [][]string {
	local := []string{"-m", "addrtype", "--dst-type", "LOCAL", "-j", f.ports()}
	return [][]string{
		append([]string{"nat", "PREROUTING"}, local...),
		append([]string{"nat", "OUTPUT"}, local...),
		{"nat", "POSTROUTING", "-j", f.post()},
		{"filter", "FORWARD", "-j", f.fwd()},
	}
}

// Apply replaces the rules of berth's chains (made if missing) with those for bridges and ports.
func (f *IPTables) Apply(bridges []Bridge, ports map[string][]PortRule) error {
	want6 := false
	for _, b := range bridges {
		want6 = want6 || b.Subnet6.IsValid()
	}
	for _, rs := range ports {
		for _, r := range rs {
			want6 = want6 || r.v6()
		}
	}
	if err := f.apply(f.v4, false, bridges, ports); err != nil {
		return err
	}
	if want6 {
		return f.apply(f.v6, true, bridges, ports)
	}
	return f.remove(f.v6)
}

func (f *IPTables) apply(ipt *iptables.IPTables, v6 bool, bridges []Bridge, ports map[string][]PortRule) error {
	for _, tc := range [][2]string{{"nat", f.ports()}, {"nat", f.post()}, {"filter", f.fwd()}} {
		if err := ipt.ClearChain(tc[0], tc[1]); err != nil { // creates it if missing
			return err
		}
	}
	for _, j := range f.jumps() {
		var err error
		if j[1] == "FORWARD" {
			err = ipt.InsertUnique(j[0], j[1], 1, j[2:]...)
		} else {
			err = ipt.AppendUnique(j[0], j[1], j[2:]...)
		}
		if err != nil {
			return err
		}
	}
	for _, b := range bridges {
		subnet := b.Subnet
		if v6 {
			subnet = b.Subnet6
		}
		var post [][]string
		if !b.Internal && subnet.IsValid() {
			post = append(post, []string{"-s", subnet.String(), "!", "-o", b.Device, "-j", "MASQUERADE"})
		}
		if !v6 {
			post = append(post, []string{"-s", "127.0.0.0/8", "-o", b.Device, "-j", "MASQUERADE"})
		}
		if subnet.IsValid() {
			post = append(post, []string{"-s", subnet.String(), "-o", b.Device, "-m", "conntrack", "--ctstate", "DNAT", "-j", "MASQUERADE"})
		}
		for _, r := range post {
			if err := ipt.Append("nat", f.post(), r...); err != nil {
				return err
			}
		}
		var fwd [][]string
		if b.Internal {
			fwd = append(fwd, []string{"-i", b.Device, "!", "-o", b.Device, "-j", "DROP"}, []string{"-o", b.Device, "!", "-i", b.Device, "-j", "DROP"})
		}
		for _, o := range bridges {
			if o.Device != b.Device {
				fwd = append(fwd, []string{"-i", b.Device, "-o", o.Device, "-j", "DROP"})
			}
		}
		for _, r := range fwd {
			if err := ipt.Append("filter", f.fwd(), r...); err != nil {
				return err
			}
		}
	}
	for owner, rs := range ports {
		for _, r := range rs {
			if r.v6() != v6 {
				continue
			}
			if err := f.addPort(ipt, owner, r); err != nil {
				return err
			}
		}
	}
	return nil
}

// dnatSpec is r's DNAT rule; nil for a binding the kernel cannot serve (IPv6 loopback).
func dnatSpec(owner string, r PortRule) ([]string, error) {
	if _, err := protoNumber(r.Proto); err != nil {
		return nil, err
	}
	if r.HostIP.IsValid() && r.HostIP.Is6() != r.v6() {
		return nil, fmt.Errorf("host address %s and container address %s differ in family", r.HostIP, r.ContainerIP)
	}
	if r.loopback6Only() {
		return nil, nil
	}
	proto := r.Proto
	if proto == "" {
		proto = "tcp"
	}
	var spec []string
	switch {
	case r.HostIP.IsValid() && !r.HostIP.IsUnspecified():
		spec = append(spec, "-d", r.HostIP.String())
	case r.v6():
		spec = append(spec, "!", "-d", "::1")
	}
	to := netip.AddrPortFrom(r.ContainerIP, r.ContainerPort).String()
	return append(spec, "-p", proto, "-m", proto, "--dport", strconv.Itoa(int(r.HostPort)),
		"-m", "comment", "--comment", owner, "-j", "DNAT", "--to-destination", to), nil
}

func (f *IPTables) addPort(ipt *iptables.IPTables, owner string, r PortRule) error {
	spec, err := dnatSpec(owner, r)
	if err != nil || spec == nil {
		return err
	}
	return ipt.Append("nat", f.ports(), spec...)
}

// AddPorts appends owner's port rules.
func (f *IPTables) AddPorts(owner string, rules []PortRule) error {
	for _, r := range rules {
		ipt := f.v4
		if r.v6() {
			ipt = f.v6
		}
		if err := f.addPort(ipt, owner, r); err != nil {
			return fmt.Errorf("publish ports: %w", err)
		}
	}
	return nil
}

// RemovePorts deletes every port rule commented with owner.
func (f *IPTables) RemovePorts(owner string) error {
	for _, ipt := range []*iptables.IPTables{f.v4, f.v6} {
		rules, err := ipt.List("nat", f.ports())
		if err != nil {
			continue // no chain: nothing to remove
		}
		// rules[0] is the chain's -N line; rule i is number i. Delete from the last so the
		// numbers of those left to delete do not move.
		for i := len(rules) - 1; i >= 1; i-- {
			if strings.Contains(rules[i], " --comment "+owner+" ") {
				if err := ipt.DeleteById("nat", f.ports(), i); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// remove deletes berth's jumps and chains from one family (missing ones are fine).
func (f *IPTables) remove(ipt *iptables.IPTables) error {
	for _, j := range f.jumps() {
		// A jump needs its target: no chain, no jump (and iptables -C would fail).
		if ok, _ := ipt.ChainExists(j[0], j[len(j)-1]); !ok {
			continue
		}
		if err := ipt.DeleteIfExists(j[0], j[1], j[2:]...); err != nil {
			return err
		}
	}
	for _, tc := range [][2]string{{"nat", f.ports()}, {"nat", f.post()}, {"filter", f.fwd()}} {
		if ok, _ := ipt.ChainExists(tc[0], tc[1]); ok {
			if err := ipt.ClearAndDeleteChain(tc[0], tc[1]); err != nil {
				return err
			}
		}
	}
	return nil
}

// Delete removes berth's jumps and chains, IPv4 and IPv6.
func (f *IPTables) Delete() error {
	if err := f.remove(f.v4); err != nil {
		return err
	}
	return f.remove(f.v6)
}
