package network

import (
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// PortRule forwards one host port to a container port, in the kernel (no proxy process).
type PortRule struct {
	Proto         string     `json:"proto"`   // tcp, udp or sctp
	HostIP        netip.Addr `json:"host_ip"` // invalid or unspecified: every local address
	HostPort      uint16     `json:"host_port"`
	ContainerIP   netip.Addr `json:"container_ip"`
	ContainerPort uint16     `json:"container_port"`
}

// Bridge is one bridge network as the firewall sees it.
type Bridge struct {
	Device   string
	Subnet   netip.Prefix
	Internal bool // no traffic in or out of the bridge but between its containers
}

// Firewall is berth's own nftables table (family ip). It holds:
//
//	chain prerouting  (nat, dstnat)    fib daddr type local jump ports
//	chain output      (nat, dstnat)    fib daddr type local jump ports
//	chain ports                        one DNAT rule per published port, tagged with its owner
//	chain postrouting (nat, srcnat)    per bridge: masquerade the subnet leaving by another interface,
//	                                   127.0.0.0/8 forwarded to the bridge, and hairpin (DNAT'd, bridge to bridge)
//	chain forward     (filter, 0)      isolation: drop between different bridges, and in or out of
//	                                   an internal bridge
//
// Nothing outside the table is touched; deleting the table removes all of berth's rules.
type Firewall struct {
	Table string
}

func (f *Firewall) table() *nftables.Table {
	return &nftables.Table{Name: f.Table, Family: nftables.TableFamilyIPv4}
}

// Apply replaces the table with the rules for bridges and the port rules (by owner), in one
// atomic transaction: published ports keep working across a daemon restart and a change.
func (f *Firewall) Apply(bridges []Bridge, ports map[string][]PortRule) error {
	c, err := nftables.New()
	if err != nil {
		return err
	}
	if t, err := c.ListTableOfFamily(f.Table, nftables.TableFamilyIPv4); err == nil && t != nil {
		c.DelTable(t)
	}
	t := c.AddTable(f.table())
	accept := nftables.ChainPolicyAccept
	pre := c.AddChain(&nftables.Chain{Name: "prerouting", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest, Policy: &accept})
	out := c.AddChain(&nftables.Chain{Name: "output", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest, Policy: &accept})
	post := c.AddChain(&nftables.Chain{Name: "postrouting", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource, Policy: &accept})
	fwd := c.AddChain(&nftables.Chain{Name: "forward", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	pc := c.AddChain(&nftables.Chain{Name: "ports", Table: t})
	for _, ch := range []*nftables.Chain{pre, out} {
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{
			&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
			&expr.Verdict{Kind: expr.VerdictJump, Chain: pc.Name},
		}})
	}
	drop := &expr.Verdict{Kind: expr.VerdictDrop}
	for _, b := range bridges {
		var rules [][]expr.Any
		if !b.Internal {
			rules = append(rules, join(matchPrefix(12, b.Subnet), matchIfname(unix.NFT_META_OIFNAME, expr.CmpOpNeq, b.Device), &expr.Masq{}))
		}
		rules = append(rules, join(matchPrefix(12, netip.MustParsePrefix("127.0.0.0/8")), matchIfname(unix.NFT_META_OIFNAME, expr.CmpOpEq, b.Device), &expr.Masq{}))
		rules = append(rules, join(matchIfname(unix.NFT_META_IIFNAME, expr.CmpOpEq, b.Device), matchIfname(unix.NFT_META_OIFNAME, expr.CmpOpEq, b.Device),
			&expr.Ct{Register: 1, Key: expr.CtKeySTATUS},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(0x20 /* IPS_DST_NAT */), Xor: make([]byte, 4)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
			&expr.Masq{}))
		for _, r := range rules {
			c.AddRule(&nftables.Rule{Table: t, Chain: post, Exprs: r})
		}
		if b.Internal {
			c.AddRule(&nftables.Rule{Table: t, Chain: fwd, Exprs: join(matchIfname(unix.NFT_META_IIFNAME, expr.CmpOpEq, b.Device), matchIfname(unix.NFT_META_OIFNAME, expr.CmpOpNeq, b.Device), drop)})
			c.AddRule(&nftables.Rule{Table: t, Chain: fwd, Exprs: join(matchIfname(unix.NFT_META_OIFNAME, expr.CmpOpEq, b.Device), matchIfname(unix.NFT_META_IIFNAME, expr.CmpOpNeq, b.Device), drop)})
		}
		for _, o := range bridges {
			if o.Device != b.Device {
				c.AddRule(&nftables.Rule{Table: t, Chain: fwd, Exprs: join(matchIfname(unix.NFT_META_IIFNAME, expr.CmpOpEq, b.Device), matchIfname(unix.NFT_META_OIFNAME, expr.CmpOpEq, o.Device), drop)})
			}
		}
	}
	for owner, rs := range ports {
		for _, r := range rs {
			e, err := dnatExprs(r)
			if err != nil {
				return err
			}
			c.AddRule(&nftables.Rule{Table: t, Chain: pc, Exprs: e, UserData: []byte(owner)})
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables table %s: %w", f.Table, err)
	}
	return nil
}

func join(parts ...any) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		switch v := p.(type) {
		case []expr.Any:
			out = append(out, v...)
		case expr.Any:
			out = append(out, v)
		}
	}
	return out
}

// Delete removes the table (missing is fine).
func (f *Firewall) Delete() error {
	c, err := nftables.New()
	if err != nil {
		return err
	}
	t, err := c.ListTableOfFamily(f.Table, nftables.TableFamilyIPv4)
	if err != nil || t == nil {
		return nil
	}
	c.DelTable(t)
	return c.Flush()
}

func ifname(n string) []byte {
	b := make([]byte, 16)
	copy(b, n)
	return b
}

func matchIfname(key expr.MetaKey, op expr.CmpOp, name string) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: key, Register: 1},
		&expr.Cmp{Op: op, Register: 1, Data: ifname(name)},
	}
}

// matchPrefix matches the IPv4 source (offset 12) or destination (16) against p.
func matchPrefix(offset uint32, p netip.Prefix) []expr.Any {
	mask := make([]byte, 4)
	for i := 0; i < p.Bits(); i++ {
		mask[i/8] |= 1 << (7 - i%8)
	}
	net4 := p.Masked().Addr().As4()
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: net4[:]},
	}
}

func protoNumber(p string) (byte, error) {
	switch p {
	case "tcp", "":
		return unix.IPPROTO_TCP, nil
	case "udp":
		return unix.IPPROTO_UDP, nil
	case "sctp":
		return unix.IPPROTO_SCTP, nil
	}
	return 0, fmt.Errorf("unsupported protocol %q", p)
}

func dnatExprs(r PortRule) ([]expr.Any, error) {
	proto, err := protoNumber(r.Proto)
	if err != nil {
		return nil, err
	}
	var e []expr.Any
	if r.HostIP.IsValid() && !r.HostIP.IsUnspecified() {
		if !r.HostIP.Is4() {
			return nil, fmt.Errorf("host address %s: only IPv4 is published", r.HostIP)
		}
		e = append(e, matchPrefix(16, netip.PrefixFrom(r.HostIP, 32))...)
	}
	cip := r.ContainerIP.As4()
	e = append(e,
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(r.HostPort)},
		&expr.Immediate{Register: 1, Data: cip[:]},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(r.ContainerPort)},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
	)
	return e, nil
}

// AddPorts adds owner's port rules to the table as it is (Apply made it).
func (f *Firewall) AddPorts(owner string, rules []PortRule) error {
	if len(rules) == 0 {
		return nil
	}
	c, err := nftables.New()
	if err != nil {
		return err
	}
	t := f.table()
	ch := &nftables.Chain{Name: "ports", Table: t}
	for _, r := range rules {
		e, err := dnatExprs(r)
		if err != nil {
			return err
		}
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: e, UserData: []byte(owner)})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("publish ports: %w", err)
	}
	return nil
}

// RemovePorts deletes every port rule of owner.
func (f *Firewall) RemovePorts(owner string) error {
	c, err := nftables.New()
	if err != nil {
		return err
	}
	t := f.table()
	rules, err := c.GetRules(t, &nftables.Chain{Name: "ports", Table: t})
	if err != nil {
		return nil // no table: nothing to remove
	}
	n := 0
	for _, r := range rules {
		if string(r.UserData) == owner {
			if err := c.DelRule(r); err != nil {
				return err
			}
			n++
		}
	}
	if n == 0 {
		return nil
	}
	return c.Flush()
}
