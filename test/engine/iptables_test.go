package engine_test

import (
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// removeIPTables deletes a test daemon's iptables chains and the jumps to them (IPv4 and IPv6).
func removeIPTables(prefix string) {
	for _, cmd := range []string{"iptables", "ip6tables"} {
		for _, j := range [][]string{
			{"nat", "PREROUTING", "-m", "addrtype", "--dst-type", "LOCAL", "-j", prefix + "-PORTS"},
			{"nat", "OUTPUT", "-m", "addrtype", "--dst-type", "LOCAL", "-j", prefix + "-PORTS"},
			{"nat", "POSTROUTING", "-j", prefix + "-POST"},
			{"filter", "FORWARD", "-j", prefix + "-FWD"},
		} {
			for exec.Command(cmd, append([]string{"-w", "-t", j[0], "-D", j[1]}, j[2:]...)...).Run() == nil {
			}
		}
		for _, tc := range [][2]string{{"nat", prefix + "-PORTS"}, {"nat", prefix + "-POST"}, {"filter", prefix + "-FWD"}} {
			exec.Command(cmd, "-w", "-t", tc[0], "-F", tc[1]).Run()
			exec.Command(cmd, "-w", "-t", tc[0], "-X", tc[1]).Run()
		}
	}
}

// keepIPTablesTables removes, when the test ends, the iptables-nft tables (ip/ip6 nat and filter)
// that the test's iptables commands created, if nothing else has put a rule in them since.
func keepIPTablesTables(t *testing.T) {
	var made [][2]string
	for _, fam := range []string{"ip", "ip6"} {
		for _, table := range []string{"nat", "filter"} {
			if exec.Command("nft", "list", "table", fam, table).Run() != nil {
				made = append(made, [2]string{fam, table})
			}
		}
	}
	t.Cleanup(func() {
		for _, ft := range made {
			out, err := exec.Command("nft", "list", "table", ft[0], ft[1]).CombinedOutput()
			if err == nil && !hasRule(string(out)) {
				exec.Command("nft", "delete", "table", ft[0], ft[1]).Run()
			}
		}
	})
}

// hasRule: an `nft list table` output holds a rule, not only chain declarations.
func hasRule(listing string) bool {
	for _, l := range strings.Split(listing, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && l != "}" && !strings.HasPrefix(l, "table ") && !strings.HasPrefix(l, "chain ") && !strings.HasPrefix(l, "type ") {
			return true
		}
	}
	return false
}

// ip6tablesRules lists the IPv6 DNAT rules of every berth chain.
func ip6tablesRules() string {
	out, _ := exec.Command("ip6tables", "-w", "-t", "nat", "-S").CombinedOutput()
	var rules []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "BERTH") {
			rules = append(rules, l)
		}
	}
	return strings.Join(rules, "\n")
}

// iptablesRules is `iptables -t table -S chain`.
func iptablesRules(table, chain string) string {
	out, _ := exec.Command("iptables", "-w", "-t", table, "-S", chain).CombinedOutput()
	return string(out)
}

// TestNetIPTablesFallback: with --firewall-backend iptables (what berthd picks by itself where
// nftables is unavailable) the same rules live in berth's own iptables chains: a published port
// answers on 127.0.0.1 and through the gateway (hairpin), bridges are isolated, the rules are
// reconciled (not doubled) after a kill -9 and restart, and removed with the container.
func TestNetIPTablesFallback(t *testing.T) {
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Skip("no iptables")
	}
	keepIPv6Forwarding(t)
	keepIPTablesTables(t)
	d := startDaemon(t, "--firewall-backend", "iptables")
	br, bip := bridgeOf(d)
	prefix := "BERTH-" + strings.ToUpper(br)
	t.Cleanup(func() { removeIPTables(prefix) })
	tarPath, _ := busyboxTar(t)
	if r := d.runIn(tarPath, dockerCLI, "import", "-c", `CMD ["sh"]`, "-", "busybox"); r.code != 0 {
		t.Fatalf("import: %s", r.stderr)
	}
	if out, err := exec.Command("nft", "list", "table", "ip", "berth-"+br).CombinedOutput(); err == nil {
		t.Errorf("an nftables table with the iptables back end:\n%s", out)
	}
	port, port2 := freeLocalPort(t), freeLocalPort(t)
	id := d.mustDocker("run", "-d", "-p", fmt.Sprintf("127.0.0.1:%d:80", port), "-p", fmt.Sprintf("%d:80", port2), "busybox",
		"sh", "-c", "mkdir /www && echo hello iptables > /www/index.html && exec httpd -f -p 80 -h /www")
	t.Cleanup(func() { d.run(dockerCLI, "rm", "-f", id) })
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	if body, err := httpGet(url, 10*time.Second); err != nil || body != "hello iptables\n" {
		r := d.run(dockerCLI, "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}} {{.State.Error}}", id)
		t.Fatalf("GET %s: %q %v\ncontainer: %s%s\n%s%s", url, body, err, r.stdout, r.stderr, iptablesRules("nat", "OUTPUT"), iptablesRules("nat", prefix+"-PORTS"))
	}
	if rules := iptablesRules("nat", prefix+"-PORTS"); strings.Count(rules, "--comment "+id) != 2 {
		t.Errorf("port rules:\n%s", rules)
	}
	gw := bip.Addr().String()
	if r := d.run(dockerCLI, "run", "--rm", "busybox", "wget", "-q", "-O", "-", fmt.Sprintf("http://%s:%d/", gw, port2)); r.stdout != "hello iptables\n" {
		t.Errorf("hairpin through %s:%d: %q %s", gw, port2, r.stdout, r.stderr)
	}
	// Isolation: a container on a user network cannot reach one on the default bridge.
	userNetwork(t, d, dockerCLI, "iso")
	ip := d.mustDocker("inspect", "-f", "{{.NetworkSettings.Networks.bridge.IPAddress}}", id)
	if r := d.run(dockerCLI, "run", "--rm", "--network", "iso", "busybox", "ping", "-c", "1", "-W", "1", ip); r.code == 0 {
		t.Errorf("reached %s across bridges", ip)
	}

	// IPv6 through ip6tables: a container reaches a published port through the IPv6 gateway.
	br6, bip6 := testBridge()
	sub6 := subnet6Of(br6)
	d.mustDocker("network", "create", "--ipv6", "--subnet", netip.MustParsePrefix(bip6).Masked().String(), "--subnet", sub6.String(),
		"-o", "com.docker.network.bridge.name="+br6, "v6ipt")
	t.Cleanup(func() {
		d.run(dockerCLI, "network", "rm", "v6ipt")
		removeBridge(br6)
	})
	port6 := freeLocalPort(t)
	web6 := d.mustDocker("run", "-d", "--network", "v6ipt", "-p", fmt.Sprintf("%d:80", port6), "busybox",
		"sh", "-c", "mkdir /www && echo hello ip6tables > /www/index.html && exec httpd -f -p 80 -h /www")
	url6 := fmt.Sprintf("http://[%s]:%d/", sub6.Addr().Next(), port6)
	if r := d.run(dockerCLI, "run", "--rm", "--network", "v6ipt", "busybox", "sh", "-c", "sleep 1; wget -q -O - "+url6); r.stdout != "hello ip6tables\n" {
		t.Errorf("wget %s: %q %s\n%s", url6, r.stdout, r.stderr, ip6tablesRules())
	}
	d.mustDocker("rm", "-f", web6)
	if rules := ip6tablesRules(); strings.Contains(rules, "-j DNAT") {
		t.Errorf("IPv6 port rules left:\n%s", rules)
	}
	d.mustDocker("network", "rm", "v6ipt")
	if out, err := exec.Command("ip6tables", "-w", "-t", "nat", "-S", prefix+"-PORTS").CombinedOutput(); err == nil {
		t.Errorf("IPv6 chains left without an IPv6 network:\n%s", out)
	}

	d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.exited
	d.exited <- nil
	if body, err := httpGet(url, 5*time.Second); err != nil || body != "hello iptables\n" {
		t.Errorf("GET %s while the daemon is down: %q %v", url, body, err)
	}
	d2 := &daemon{t: t, dir: d.dir, sock: d.sock, pidfile: d.pidfile, dataRoot: d.dataRoot, log: d.log, args: d.args}
	d2.cmd = rerun(d)
	d2.start()
	if body, err := httpGet(url, 5*time.Second); err != nil || body != "hello iptables\n" {
		t.Errorf("GET %s after the restart: %q %v", url, body, err)
	}
	if rules := iptablesRules("nat", prefix+"-PORTS"); strings.Count(rules, "--comment "+id) != 2 {
		t.Errorf("port rules after the restart:\n%s", rules)
	}
	for _, chain := range []string{"PREROUTING", "OUTPUT", "POSTROUTING"} {
		if n := strings.Count(iptablesRules("nat", chain), "-j "+prefix+"-"); n != 1 {
			t.Errorf("%d jumps from %s", n, chain)
		}
	}
	d2.mustDocker("rm", "-f", id)
	if rules := iptablesRules("nat", prefix+"-PORTS"); strings.Contains(rules, "DNAT") {
		t.Errorf("port rules left:\n%s", rules)
	}
	if _, err := httpGet(url, 0); err == nil {
		t.Errorf("%s still answers after rm", url)
	}
}
