package network

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// NFTables is berth's own nftables table (family ip, and ip6 with the same name while there is an
// IPv6 network or rule). Each holds:
//
//	chain prerouting  (nat, dstnat)    fib daddr type local jump ports
//	chain output      (nat, dstnat)    fib daddr type local jump ports
//	chain ports                        one DNAT rule per published port, tagged with its owner
//	chain postrouting (nat, srcnat)    per bridge: masquerade the subnet leaving by another interface,
//	                                   127.0.0.0/8 forwarded to the bridge (ip only), and hairpin
//	                                   (DNAT'd, bridge to bridge)
//	chain forward     (filter, 0)      isolation: drop between different bridges, and in or out of
//	                                   an internal bridge
//
// Nothing outside the tables is touched; deleting them removes all of berth's rules.
type NFTables struct {
	Table string
}

// Backend is "nftables".
func (f *NFTables) Backend() string { return "nftables" }

// nftablesAvailable: the kernel answers nftables requests.
func nftablesAvailable() bool {
	c, err := nftables.New()
	if err != nil {
		return false
	}
	_, err = c.ListTablesOfFamily(nftables.TableFamilyIPv4)
	return err == nil
}

// family is what differs between the ip and ip6 tables.
type family struct {
	table   nftables.TableFamily
	nfproto byte
	srcOff  uint32 // offsets of the source and destination addresses in the network header
	dstOff  uint32
	size    uint32
}

var (
	ip4 = family{nftables.TableFamilyIPv4, unix.NFPROTO_IPV4, 12, 16, 4}
	ip6 = family{nftables.TableFamilyIPv6, unix.NFPROTO_IPV6, 8, 24, 16}
)

func (f *NFTables) table(fam family) *nftables.Table {
	return &nftables.Table{Name: f.Table, Family: fam.table}
}

// Apply replaces the tables with the rules for bridges and the port rules (by owner), in one
// atomic transaction: published ports keep working across a daemon restart and a change. The
// ip6 table exists only while an IPv6 network or rule does.
func (f *NFTables) Apply(bridges []Bridge, ports map[string][]PortRule) error {
	c, err := nftables.New()
	if err != nil {
		return err
	}
	want6 := false
	for _, b := range bridges {
		want6 = want6 || b.Subnet6.IsValid()
	}
	for _, rs := range ports {
		for _, r := range rs {
			want6 = want6 || r.v6()
		}
	}
	for _, fam := range []family{ip4, ip6} {
		if t, err := c.ListTableOfFamily(f.Table, fam.table); err == nil && t != nil {
			c.DelTable(t)
		}
		if fam == ip6 && !want6 {
			continue
		}
		if err := f.build(c, fam, bridges, ports); err != nil {
			return err
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables table %s: %w", f.Table, err)
	}
	return nil
}

// build queues the table of family fam.
func (f *NFTables) build(c *nftables.Conn, fam family, bridges []Bridge, ports map[string][]PortRule) error {
	t := c.AddTable(f.table(fam))
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
		subnet := b.Subnet
		if fam == ip6 {
			subnet = b.Subnet6
		}
		var rules [][]expr.Any
		if !b.Internal && subnet.IsValid() {
			rules = append(rules, join(matchPrefix(fam, fam.srcOff, subnet), matchIfname(unix.NFT_META_OIFNAME, expr.CmpOpNeq, b.Device), &expr.Masq{}))
		}
		if fam == ip4 {
			rules = append(rules, join(matchPrefix(fam, fam.srcOff, netip.MustParsePrefix("127.0.0.0/8")), matchIfname(unix.NFT_META_OIFNAME, expr.CmpOpEq, b.Device), &expr.Masq{}))
		}
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
			if r.v6() != (fam == ip6) {
				continue
			}
			e, err := dnatExprs(r)
			if err != nil {
				return err
			}
			if e != nil {
				c.AddRule(&nftables.Rule{Table: t, Chain: pc, Exprs: e, UserData: []byte(owner)})
			}
		}
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

// Delete removes the tables (missing is fine).
func (f *NFTables) Delete() error {
	c, err := nftables.New()
	if err != nil {
		return err
	}
	for _, fam := range []family{ip4, ip6} {
		if t, err := c.ListTableOfFamily(f.Table, fam.table); err == nil && t != nil {
			c.DelTable(t)
		}
	}
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

// matchPrefix matches the address at offset of the network header against p (op Eq), or its
// negation with matchNotPrefix.
func matchPrefix(fam family, offset uint32, p netip.Prefix) []expr.Any {
	return matchPrefixOp(fam, offset, p, expr.CmpOpEq)
}

func matchPrefixOp(fam family, offset uint32, p netip.Prefix, op expr.CmpOp) []expr.Any {
	mask := make([]byte, fam.size)
	for i := 0; i < p.Bits(); i++ {
		mask[i/8] |= 1 << (7 - i%8)
	}
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: fam.size},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: fam.size, Mask: mask, Xor: make([]byte, fam.size)},
		&expr.Cmp{Op: op, Register: 1, Data: p.Masked().Addr().AsSlice()},
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

// dnatExprs is r's DNAT rule; nil for a binding the kernel cannot serve (IPv6 loopback).
func dnatExprs(r PortRule) ([]expr.Any, error) {
	proto, err := protoNumber(r.Proto)
	if err != nil {
		return nil, err
	}
	fam := ip4
	if r.v6() {
		fam = ip6
	}
	if r.HostIP.IsValid() && r.HostIP.Is6() != r.v6() {
		return nil, errors.New("host address " + r.HostIP.String() + " and container address " + r.ContainerIP.String() + " differ in family")
	}
	if r.loopback6Only() {
		return nil, nil
	}
	var e []expr.Any
	switch {
	case r.HostIP.IsValid() && !r.HostIP.IsUnspecified():
		e = append(e, matchPrefix(fam, fam.dstOff, netip.PrefixFrom(r.HostIP, r.HostIP.BitLen()))...)
	case fam == ip6:
		e = append(e, matchPrefixOp(fam, fam.dstOff, netip.PrefixFrom(netip.IPv6Loopback(), 128), expr.CmpOpNeq)...)
	}
	e = append(e,
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(r.HostPort)},
		&expr.Immediate{Register: 1, Data: r.ContainerIP.AsSlice()},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(r.ContainerPort)},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: uint32(fam.nfproto), RegAddrMin: 1, RegProtoMin: 2, Specified: true},
	)
	return e, nil
}

// AddPorts adds owner's port rules to the tables as they are (Apply made them).
func (f *NFTables) AddPorts(owner string, rules []PortRule) error {
	if len(rules) == 0 {
		return nil
	}
	c, err := nftables.New()
	if err != nil {
		return err
	}
	n := 0
	for _, r := range rules {
		fam := ip4
		if r.v6() {
			fam = ip6
		}
		t := f.table(fam)
		e, err := dnatExprs(r)
		if err != nil {
			return err
		}
		if e != nil {
			c.AddRule(&nftables.Rule{Table: t, Chain: &nftables.Chain{Name: "ports", Table: t}, Exprs: e, UserData: []byte(owner)})
			n++
		}
	}
	if n == 0 {
		return nil
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("publish ports: %w", err)
	}
	return nil
}

// RemovePorts deletes every port rule of owner.
func (f *NFTables) RemovePorts(owner string) error {
	c, err := nftables.New()
	if err != nil {
		return err
	}
	n := 0
	for _, fam := range []family{ip4, ip6} {
		t := f.table(fam)
		rules, err := c.GetRules(t, &nftables.Chain{Name: "ports", Table: t})
		if err != nil {
			continue // no table: nothing to remove
		}
		for _, r := range rules {
			if string(r.UserData) == owner {
				if err := c.DelRule(r); err != nil {
					return err
				}
				n++
			}
		}
	}
	if n == 0 {
		return nil
	}
	return c.Flush()
}
