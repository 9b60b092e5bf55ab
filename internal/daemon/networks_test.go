package daemon

import (
	"fmt"
	"net/netip"
	"strconv"
	"testing"

	"github.com/berthproject/berth/internal/container"
	"github.com/berthproject/berth/internal/network"
	ctypes "github.com/moby/moby/api/types/container"
)

func TestResolvConf(t *testing.T) {
	host := []byte("# comment\nnameserver 10.0.0.53\nsearch example.org\noptions edns0\n")
	n := &netController{nets: map[string]*bridgeNet{
		"def":  {def: netDef{ID: "def", Name: "bridge", Default: true}},
		"user": {def: netDef{ID: "user", Name: "u"}},
	}, eps: map[string][]*endpoint{"onuser": {{Network: "user"}}, "ondefault": {{Network: "def"}}}}
	d := &Daemon{net: n}
	for _, tc := range []struct {
		id   string
		h    ctypes.HostConfig
		want string
	}{
		{"ondefault", ctypes.HostConfig{}, string(host)},
		{"ondefault", ctypes.HostConfig{DNS: []netip.Addr{netip.MustParseAddr("10.1.1.1")}, DNSSearch: []string{"a.test"}},
			"# comment\nnameserver 10.1.1.1\nsearch a.test\noptions edns0\n"},
		{"onuser", ctypes.HostConfig{}, "# comment\nnameserver 127.0.0.11\nsearch example.org\noptions edns0 ndots:0\n"},
		{"onuser", ctypes.HostConfig{DNSOptions: []string{"ndots:2"}, DNSSearch: []string{"."}}, "# comment\nnameserver 127.0.0.11\noptions ndots:2\n"},
	} {
		h := tc.h
		got := string(d.resolvConf(&container.Container{ID: tc.id, HostConfig: &h}, host))
		if got != tc.want {
			t.Errorf("%s %+v:\n%q\nwant\n%q", tc.id, tc.h, got, tc.want)
		}
	}
}

func TestReserveHostPort(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	rule := func(proto string) network.PortRule {
		return network.PortRule{Proto: proto, HostIP: lo, ContainerIP: netip.MustParseAddr("10.0.0.2"), ContainerPort: 80}
	}
	random, p, err := reserveHostPort(rule("tcp"), "")
	if err != nil || p == 0 {
		t.Fatalf("random: %d %v", p, err)
	}
	defer random.Release()
	// The port is held: a second reservation of it fails as Docker's allocator says.
	if _, _, err := reserveHostPort(rule("tcp"), strconv.Itoa(int(p))); err == nil || err.Error() != fmt.Sprintf("Bind for 127.0.0.1:%d failed: port is already allocated", p) {
		t.Errorf("held port: %v", err)
	}
	// A range skips it.
	r2, p2, err := reserveHostPort(rule("tcp"), fmt.Sprintf("%d-%d", p, p+1))
	if err != nil || p2 != p+1 {
		t.Errorf("range: %d %v", p2, err)
	} else {
		r2.Release()
	}
	if ru, pu, err := reserveHostPort(rule("udp"), ""); err != nil || pu == 0 {
		t.Errorf("random udp: %d %v", pu, err)
	} else {
		ru.Release()
	}
	if _, _, err := reserveHostPort(rule("tcp"), "9-2"); err == nil {
		t.Error("a reversed range was accepted")
	}
	random.Release()
	if again, _, err := reserveHostPort(rule("tcp"), strconv.Itoa(int(p))); err != nil {
		t.Errorf("after release: %v", err)
	} else {
		again.Release()
	}
}
