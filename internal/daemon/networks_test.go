package daemon

import (
	"net/netip"
	"testing"

	"github.com/berthproject/berth/internal/container"
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

func TestHostPortFor(t *testing.T) {
	if p, err := hostPortFor("8080", "tcp"); err != nil || p != 8080 {
		t.Errorf("fixed: %d %v", p, err)
	}
	if p, err := hostPortFor("", "tcp"); err != nil || p == 0 {
		t.Errorf("random: %d %v", p, err)
	}
	if p, err := hostPortFor("", "udp"); err != nil || p == 0 {
		t.Errorf("random udp: %d %v", p, err)
	}
	if _, err := hostPortFor("9-2", "tcp"); err == nil {
		t.Error("a reversed range was accepted")
	}
	if p, err := hostPortFor("40000-40010", "tcp"); err != nil || p < 40000 || p > 40010 {
		t.Errorf("range: %d %v", p, err)
	}
}
