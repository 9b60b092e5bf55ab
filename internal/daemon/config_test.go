package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMergeFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "daemon.json")
	write := func(s string) {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c := Defaults()
	if err := c.MergeFile(filepath.Join(dir, "absent.json"), false, nil); err != nil {
		t.Fatalf("a missing default file must be fine: %v", err)
	}
	if err := c.MergeFile(filepath.Join(dir, "absent.json"), true, nil); err == nil {
		t.Fatal("a missing file given explicitly must be an error")
	}
	write(`{"data-root": "/srv/berth", "live-restore": false, "runtimes": {"crun": {"path": "/usr/bin/crun"}}}`)
	c = Defaults()
	if err := c.MergeFile(p, true, nil); err != nil {
		t.Fatal(err)
	}
	if c.DataRoot != "/srv/berth" || c.LiveRestore || c.Runtimes["crun"].Path != "/usr/bin/crun" || c.ExecRoot != "/var/run/berth" {
		t.Fatalf("merged config: %+v", c)
	}
	write(`{"bogus": 1, "data-root": "/x"}`)
	if err := Defaults().MergeFile(p, true, nil); err == nil || !strings.Contains(err.Error(), "don't match any configuration option: bogus") {
		t.Fatalf("unknown key: %v", err)
	}
	write(`{"proxies": {"http-proxy": "http://proxy:3128", "no-proxy": "internal.example"}}`)
	c = Defaults()
	if err := c.MergeFile(p, true, nil); err != nil {
		t.Fatal(err)
	}
	if c.Proxies.HTTPProxy != "http://proxy:3128" || c.Proxies.NoProxy != "internal.example" || c.Proxies.HTTPSProxy != "" {
		t.Fatalf("proxies: %+v", c.Proxies)
	}
	write(`{"data-root": "/x"}`)
	if err := Defaults().MergeFile(p, true, map[string]string{"data-root": "/y"}); err == nil || !strings.Contains(err.Error(), "data-root: (from flag: /y, from file: /x)") {
		t.Fatalf("conflict: %v", err)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		hosts  []string
		tls    bool
		level  string
		errSub string
	}{
		{[]string{"unix:///run/b.sock"}, false, "info", ""},
		{[]string{"fd://"}, false, "debug", ""},
		{[]string{"tcp://0.0.0.0:2376"}, true, "info", ""},
		{[]string{"tcp://0.0.0.0:2375"}, false, "info", "--tlsverify"},
		{[]string{"unix://relative.sock"}, false, "info", "absolute"},
		{[]string{"ssh://host"}, false, "info", "unsupported protocol"},
		{[]string{"/run/b.sock"}, false, "info", "invalid host"},
		{[]string{"unix:///run/b.sock"}, false, "loud", "logging level"},
	} {
		cfg := Defaults()
		cfg.Hosts, cfg.TLSVerify, cfg.LogLevel = c.hosts, c.tls, c.level
		err := cfg.Validate()
		if c.errSub == "" && err != nil || c.errSub != "" && (err == nil || !strings.Contains(err.Error(), c.errSub)) {
			t.Errorf("Validate(%v tls=%v level=%s) = %v, want error containing %q", c.hosts, c.tls, c.level, err, c.errSub)
		}
	}
}

func TestFirewallBackendOption(t *testing.T) {
	p := filepath.Join(t.TempDir(), "daemon.json")
	if err := os.WriteFile(p, []byte(`{"firewall-backend": "iptables"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Defaults()
	if err := c.MergeFile(p, true, nil); err != nil || c.FirewallBackend != "iptables" || c.Validate() != nil {
		t.Fatalf("daemon.json firewall-backend: %v %q", err, c.FirewallBackend)
	}
	c.FirewallBackend = "ipfw"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `invalid firewall-backend "ipfw"`) {
		t.Errorf("Validate: %v", err)
	}
}
