package cli

import (
	"net/netip"
	"testing"

	ctypes "github.com/moby/moby/api/types/container"
)

func TestDisplayablePorts(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	any4 := netip.MustParseAddr("0.0.0.0")
	got := displayablePorts([]ctypes.PortSummary{
		{PrivatePort: 443, Type: "tcp"},
		{IP: any4, PrivatePort: 80, PublicPort: 8080, Type: "tcp"},
		{IP: lo, PrivatePort: 7001, PublicPort: 9001, Type: "udp"},
		{IP: lo, PrivatePort: 7000, PublicPort: 9000, Type: "udp"},
		{IP: any4, PrivatePort: 8000, PublicPort: 8000, Type: "tcp"},
		{IP: any4, PrivatePort: 8001, PublicPort: 8001, Type: "tcp"},
		{PrivatePort: 444, Type: "tcp"},
	})
	// As docker's CLI (docker ps against berthd).
	if want := "443-444/tcp, 0.0.0.0:8000-8001->8000-8001/tcp, 0.0.0.0:8080->80/tcp, 127.0.0.1:9000->7000/udp, 127.0.0.1:9001->7001/udp"; got != want {
		t.Errorf("got %q want %q", got, want)
	}
}
