package network

import (
	"bytes"
	"fmt"
	"net/netip"
	"os/exec"
	"sort"
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
// The host's chains get only those jumps. Apply replaces the chains' contents through
// iptables-restore; a container's rules are appended and deleted one by one. IPv6 chains exist
// while an IPv6 network or rule does.
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

// apply replaces the contents of berth's chains of one family in one iptables-restore
// transaction per table (--noflush: only the chains it declares are flushed), so published ports
// never go missing while the rules change, then adds the jumps if they are missing.
func (f *IPTables) apply(ipt *iptables.IPTables, v6 bool, bridges []Bridge, ports map[string][]PortRule) error {
	var nat, filter [][]string
	for _, b := range bridges {
		subnet := b.Subnet
		if v6 {
			subnet = b.Subnet6
		}
		post := func(r ...string) { nat = append(nat, append([]string{"-A", f.post()}, r...)) }
		if !b.Internal && subnet.IsValid() {
			post("-s", subnet.String(), "!", "-o", b.Device, "-j", "MASQUERADE")
		}
		if !v6 {
			post("-s", "127.0.0.0/8", "-o", b.Device, "-j", "MASQUERADE")
		}
		if subnet.IsValid() {
			post("-s", subnet.String(), "-o", b.Device, "-m", "conntrack", "--ctstate", "DNAT", "-j", "MASQUERADE")
		}
		fwd := func(r ...string) { filter = append(filter, append([]string{"-A", f.fwd()}, r...)) }
		if b.Internal {
			fwd("-i", b.Device, "!", "-o", b.Device, "-j", "DROP")
			fwd("-o", b.Device, "!", "-i", b.Device, "-j", "DROP")
		}
		for _, o := range bridges {
			if o.Device != b.Device {
				fwd("-i", b.Device, "-o", o.Device, "-j", "DROP")
			}
		}
	}
	owners := make([]string, 0, len(ports))
	for owner := range ports {
		owners = append(owners, owner)
	}
	sort.Strings(owners)
	for _, owner := range owners {
		for _, r := range ports[owner] {
			if r.v6() != v6 {
				continue
			}
			spec, err := dnatSpec(owner, r)
			if err != nil {
				return err
			}
			if spec != nil {
				nat = append(nat, append([]string{"-A", f.ports()}, spec...))
			}
		}
	}
	var in strings.Builder
	in.WriteString("*nat\n:" + f.ports() + " - [0:0]\n:" + f.post() + " - [0:0]\n")
	writeRules(&in, nat)
	in.WriteString("COMMIT\n*filter\n:" + f.fwd() + " - [0:0]\n")
	writeRules(&in, filter)
	in.WriteString("COMMIT\n")
	restore := "iptables-restore"
	if v6 {
		restore = "ip6tables-restore"
	}
	cmd := exec.Command(restore, "--noflush", "--wait")
	cmd.Stdin = strings.NewReader(in.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v: %s", restore, err, bytes.TrimSpace(out))
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
	return nil
}

// writeRules writes rules in iptables-restore's syntax (each argument quoted where needed).
func writeRules(b *strings.Builder, rules [][]string) {
	for _, r := range rules {
		for i, a := range r {
			if i > 0 {
				b.WriteByte(' ')
			}
			if a == "" || strings.ContainsAny(a, " \t\"'") {
				a = strconv.Quote(a)
			}
			b.WriteString(a)
		}
		b.WriteByte('\n')
	}
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
