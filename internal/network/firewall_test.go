package network

import (
	"net/netip"
	"strings"
	"testing"
)

func TestDNATSpec(t *testing.T) {
	c4, c6 := netip.MustParseAddr("10.1.0.2"), netip.MustParseAddr("fd00:1::2")
	for _, tc := range []struct {
		r    PortRule
		want string // "" : no kernel rule
	}{
		{PortRule{Proto: "tcp", HostPort: 8080, ContainerIP: c4, ContainerPort: 80},
			"-p tcp -m tcp --dport 8080 -m comment --comment c1 -j DNAT --to-destination 10.1.0.2:80"},
		{PortRule{Proto: "udp", HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 53, ContainerIP: c4, ContainerPort: 5353},
			"-d 127.0.0.1 -p udp -m udp --dport 53 -m comment --comment c1 -j DNAT --to-destination 10.1.0.2:5353"},
		// IPv6 on every address but loopback, which the daemon serves.
		{PortRule{Proto: "tcp", HostIP: netip.IPv6Unspecified(), HostPort: 8080, ContainerIP: c6, ContainerPort: 80},
			"! -d ::1 -p tcp -m tcp --dport 8080 -m comment --comment c1 -j DNAT --to-destination [fd00:1::2]:80"},
		{PortRule{Proto: "tcp", HostIP: netip.IPv6Loopback(), HostPort: 8080, ContainerIP: c6, ContainerPort: 80}, ""},
	} {
		spec, err := dnatSpec("c1", tc.r)
		if err != nil || strings.Join(spec, " ") != tc.want {
			t.Errorf("%+v: %q %v", tc.r, strings.Join(spec, " "), err)
		}
		e, err := dnatExprs(tc.r)
		if err != nil || (e == nil) != (tc.want == "") {
			t.Errorf("nftables %+v: %d expressions, %v", tc.r, len(e), err)
		}
	}
	mixed := PortRule{Proto: "tcp", HostIP: netip.MustParseAddr("::1"), HostPort: 1, ContainerIP: c4, ContainerPort: 1}
	if _, err := dnatSpec("c1", mixed); err == nil {
		t.Error("an IPv6 host address to an IPv4 container was accepted")
	}
	if _, err := dnatExprs(PortRule{Proto: "icmp", ContainerIP: c4}); err == nil {
		t.Error("protocol icmp was accepted")
	}
}
