package network

import (
	"net/netip"
	"testing"
)

func TestIPAM(t *testing.T) {
	a, err := NewIPAM(netip.MustParsePrefix("10.9.0.0/30"), netip.Prefix{}, netip.MustParseAddr("10.9.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	ip, err := a.Allocate("a", netip.Addr{})
	if err != nil || ip.String() != "10.9.0.2" {
		t.Fatalf("first: %v %v", ip, err)
	}
	if _, err := a.Allocate("b", netip.Addr{}); err != ErrExhausted {
		t.Fatalf("want exhausted, got %v", err)
	}
	if _, err := a.Allocate("b", ip); err == nil {
		t.Fatal("an address in use was given twice")
	}
	a.Release("a", ip)
	if ip2, err := a.Allocate("b", netip.Addr{}); err != nil || ip2 != ip {
		t.Fatalf("after release: %v %v", ip2, err)
	}
	if _, err := a.Allocate("c", netip.MustParseAddr("10.9.0.3")); err == nil {
		t.Fatal("the broadcast address was given")
	}
}

func TestMACFromIP(t *testing.T) {
	if m := MACFromIP(netip.MustParseAddr("172.17.0.2")); m.String() != "02:42:ac:11:00:02" {
		t.Fatal(m)
	}
}

func TestIPAMRange(t *testing.T) {
	a, err := NewIPAM(netip.MustParsePrefix("10.9.0.0/24"), netip.MustParsePrefix("10.9.0.128/25"), netip.MustParseAddr("10.9.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	if ip, err := a.Allocate("a", netip.Addr{}); err != nil || ip.String() != "10.9.0.128" {
		t.Fatalf("%v %v", ip, err)
	}
	if ip, err := a.Allocate("b", netip.MustParseAddr("10.9.0.5")); err != nil || ip.String() != "10.9.0.5" {
		t.Fatalf("static outside the range: %v %v", ip, err)
	}
	if _, err := NewIPAM(netip.MustParsePrefix("10.9.0.0/24"), netip.MustParsePrefix("10.8.0.0/25"), netip.Addr{}); err == nil {
		t.Fatal("a range outside the subnet was accepted")
	}
}

func TestIPAMv6(t *testing.T) {
	a, err := NewIPAM(netip.MustParsePrefix("fd12:3456:789a:1::/64"), netip.Prefix{}, netip.MustParseAddr("fd12:3456:789a:1::1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"fd12:3456:789a:1::2", "fd12:3456:789a:1::3"} {
		if ip, err := a.Allocate(want, netip.Addr{}); err != nil || ip.String() != want {
			t.Fatalf("got %v %v, want %s", ip, err, want)
		}
	}
	if _, err := a.Allocate("x", netip.MustParseAddr("fd12:3456:789a:2::5")); err == nil {
		t.Fatal("an address outside the subnet was given")
	}
	if _, err := NewIPAM(netip.MustParsePrefix("fd00::/127"), netip.Prefix{}, netip.Addr{}); err == nil {
		t.Fatal("a /127 was accepted")
	}
}
