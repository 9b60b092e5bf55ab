package network

import (
	"fmt"
	"net/netip"
)

// PortRule forwards one host port to a container port, in the kernel (no proxy process).
type PortRule struct {
	Proto         string     `json:"proto"`   // tcp, udp or sctp
	HostIP        netip.Addr `json:"host_ip"` // invalid or unspecified: every local address
	HostPort      uint16     `json:"host_port"`
	ContainerIP   netip.Addr `json:"container_ip"` // its family is the rule's (ip or ip6)
	ContainerPort uint16     `json:"container_port"`
}

// Bridge is one bridge network as the firewall sees it.
type Bridge struct {
	Device   string
	Subnet   netip.Prefix
	Subnet6  netip.Prefix // valid on an --ipv6 network
	Internal bool         // no traffic in or out of the bridge but between its containers
}

// Firewall holds berth's rules: the bridges' NAT and isolation, and published ports by owner.
// Two back ends give the same rule set: nftables (berth's own tables) and, where nftables is
// unavailable, iptables (berth's own chains, reached by one jump from each built-in chain).
type Firewall interface {
	// Apply replaces every rule with those for bridges and ports (by owner).
	Apply(bridges []Bridge, ports map[string][]PortRule) error
	// AddPorts adds owner's port rules to the rules Apply made.
	AddPorts(owner string, rules []PortRule) error
	// RemovePorts deletes every port rule of owner.
	RemovePorts(owner string) error
	// Delete removes all of berth's rules, tables and chains (none left is fine).
	Delete() error
	// Backend names the back end: "nftables" or "iptables".
	Backend() string
}

// NewFirewall is the firewall named name (berth's table, or prefix of its chains) on backend:
// "nftables", "iptables", or "" for nftables when the kernel has it, else iptables.
func NewFirewall(backend, name string) (Firewall, error) {
	switch backend {
	case "nftables":
		return &NFTables{Table: name}, nil
	case "iptables":
		return NewIPTables(name)
	case "":
		if nftablesAvailable() {
			return &NFTables{Table: name}, nil
		}
		return NewIPTables(name)
	}
	return nil, fmt.Errorf("invalid firewall backend %q: nftables or iptables", backend)
}

// v6Rule: the rule belongs to the ip6 family.
func (r PortRule) v6() bool { return r.ContainerIP.Is6() }

// loopback6Only: an IPv6 binding to ::1, which the kernel cannot forward to another interface
// (the reply, addressed to ::1, is refused on the bridge): the daemon serves it (see Reservation).
func (r PortRule) loopback6Only() bool { return r.HostIP == netip.IPv6Loopback() }
