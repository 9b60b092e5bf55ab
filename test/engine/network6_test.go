package engine_test

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// subnet6Of is a ULA /64 for a test network, unique on this host like its bridge name.
func subnet6Of(br string) netip.Prefix {
	var b [16]byte
	b[0], b[1], b[2] = 0xfd, 0xbe, 0x47
	h := 0
	for _, c := range br {
		h = h*31 + int(c)
	}
	b[3], b[4], b[5], b[6], b[7] = byte(h>>24), byte(h>>16), byte(h>>8), byte(h), 0x01
	return netip.PrefixFrom(netip.AddrFrom16(b), 64)
}

// keepIPv6Forwarding restores the host's net.ipv6.conf.all.forwarding when the test ends: a daemon
// with an IPv6 network turns it on, as dockerd does.
func keepIPv6Forwarding(t *testing.T) {
	const f = "/proc/sys/net/ipv6/conf/all/forwarding"
	was, err := os.ReadFile(f)
	if err != nil {
		return
	}
	t.Cleanup(func() { os.WriteFile(f, was, 0o644) })
}

// TestNetIPv6: an --ipv6 network with a given ULA subnet gives containers an IPv6 address and
// gateway shown as Docker's; they reach each other by address and by name (AAAA) and the host
// reaches them; published ports answer on [::1] and on 127.0.0.1; a network without an IPv6
// subnet gets a ULA /64 of its own; nothing is left after removal.
func TestNetIPv6(t *testing.T) {
	keepIPv6Forwarding(t)
	d := withBusybox(t)
	br, bip := testBridge()
	sub4 := netip.MustParsePrefix(bip).Masked()
	sub6 := subnet6Of(br)
	gw6 := sub6.Addr().Next()
	d.mustDocker("network", "create", "--ipv6", "--subnet", sub4.String(), "--subnet", sub6.String(),
		"-o", "com.docker.network.bridge.name="+br, "v6net")
	t.Cleanup(func() {
		d.run(dockerCLI, "network", "rm", "v6net")
		removeBridge(br)
	})
	port, port6, portAll := freeLocalPort(t), freeLocalPort(t), freeLocalPort(t)
	web := d.mustDocker("run", "-d", "--name", "web6", "--network", "v6net",
		"-p", fmt.Sprintf("127.0.0.1:%d:80", port), "-p", fmt.Sprintf("[::1]:%d:80", port6), "-p", fmt.Sprintf("%d:80", portAll),
		"busybox", "sh", "-c", "mkdir /www && echo hello over v6 > /www/index.html && exec httpd -f -p 80 -h /www")
	client := d.mustDocker("run", "-d", "--network", "v6net", "busybox", "sleep", "60")
	var ip6 string
	for _, cli := range clients() {
		name := filepath.Base(cli)
		ip6 = d.must(cli, "inspect", "-f", "{{.NetworkSettings.Networks.v6net.GlobalIPv6Address}}", web)
		if a, err := netip.ParseAddr(ip6); err != nil || !sub6.Contains(a) || a == gw6 {
			t.Fatalf("%s: IPv6 address %q not in %s", name, ip6, sub6)
		}
		if got := d.must(cli, "inspect", "-f", "{{.NetworkSettings.Networks.v6net.IPv6Gateway}} {{.NetworkSettings.Networks.v6net.GlobalIPv6PrefixLen}}", web); got != gw6.String()+" 64" {
			t.Errorf("%s: IPv6 gateway and prefix length: %q", name, got)
		}
		if got := d.must(cli, "network", "inspect", "-f", "{{.EnableIPv6}} {{range .IPAM.Config}}{{.Subnet}},{{json .Gateway}} {{end}}", "v6net"); got != fmt.Sprintf(`true %s,"" %s,""`, sub4, sub6) {
			// As dockerd: a gateway the daemon picked in a subnet the user gave is not shown.
			t.Errorf("%s: network inspect: %q", name, got)
		}
		if got := d.must(cli, "network", "inspect", "-f", "{{range .Containers}}{{if eq .Name \"web6\"}}{{.IPv6Address}}{{end}}{{end}}", "v6net"); got != ip6+"/64" {
			t.Errorf("%s: network inspect container: %q", name, got)
		}
	}
	if got := d.mustDocker("exec", client, "ip", "-6", "route", "show", "default"); !strings.Contains(got, "default via "+gw6.String()) {
		t.Errorf("IPv6 routes: %q", got)
	}
	// By address, by name (the embedded DNS answers AAAA), and from the host.
	if r := d.run(dockerCLI, "exec", client, "ping", "-6", "-c", "1", "-W", "3", ip6); r.code != 0 {
		t.Errorf("ping6 %s: %s%s", ip6, r.stdout, r.stderr)
	}
	if r := d.run(dockerCLI, "exec", client, "ping", "-6", "-c", "1", "-W", "3", "web6"); r.code != 0 || !strings.Contains(r.stdout, ip6) {
		t.Errorf("ping6 by name: %s%s", r.stdout, r.stderr)
	}
	if r := d.run(dockerCLI, "exec", client, "nslookup", "-type=aaaa", "web6", "127.0.0.11"); !strings.Contains(r.stdout, ip6) {
		t.Errorf("AAAA record: %s%s", r.stdout, r.stderr)
	}
	if hosts := d.mustDocker("exec", web, "cat", "/etc/hosts"); !strings.HasSuffix(hosts, "\n"+ip6+"\t"+web[:12]) {
		t.Errorf("/etc/hosts: %q", hosts)
	}
	for _, url := range []string{
		"http://[" + ip6 + "]:80/",
		fmt.Sprintf("http://[::1]:%d/", port6),
		fmt.Sprintf("http://[::1]:%d/", portAll),
		fmt.Sprintf("http://127.0.0.1:%d/", port),
		fmt.Sprintf("http://127.0.0.1:%d/", portAll),
	} {
		if body, err := httpGet(url, 10*time.Second); err != nil || body != "hello over v6\n" {
			t.Errorf("GET %s: %q %v", url, body, err)
		}
	}
	// The ip6 table's DNAT: from a container through the IPv6 gateway (hairpin).
	if r := d.run(dockerCLI, "exec", client, "wget", "-q", "-O", "-", fmt.Sprintf("http://[%s]:%d/", gw6, portAll)); r.stdout != "hello over v6\n" {
		t.Errorf("wget through [%s]:%d: %q %s", gw6, portAll, r.stdout, r.stderr)
	}
	if got := d.mustDocker("port", web, "80/tcp"); !strings.Contains(got, fmt.Sprintf("[::1]:%d", port6)) || !strings.Contains(got, fmt.Sprintf("[::]:%d", portAll)) {
		t.Errorf("port: %q", got)
	}
	// The host ports are held: neither another container nor another process can take them.
	if r := d.run(dockerCLI, "run", "-d", "--network", "v6net", "-p", fmt.Sprintf("[::1]:%d:80", port6), "busybox", "true"); r.code == 0 ||
		!strings.Contains(r.stderr, fmt.Sprintf("Bind for [::1]:%d failed: port is already allocated", port6)) {
		t.Errorf("second binding of [::1]:%d: %s%s", port6, r.stdout, r.stderr)
	}
	if l, err := net.Listen("tcp6", fmt.Sprintf("[::]:%d", portAll)); err == nil {
		l.Close()
		t.Errorf("[::]:%d was free while published", portAll)
	}
	// After a kill -9 and a restart the daemon serves [::1] again (its socket forwards those
	// connections) and names still resolve to IPv6 addresses.
	d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.exited
	d.exited <- nil
	d2 := &daemon{t: t, dir: d.dir, sock: d.sock, pidfile: d.pidfile, dataRoot: d.dataRoot, log: d.log, args: d.args}
	d2.cmd = rerun(d)
	d2.start()
	d = d2
	if body, err := httpGet(fmt.Sprintf("http://[::1]:%d/", port6), 5*time.Second); err != nil || body != "hello over v6\n" {
		t.Errorf("GET [::1]:%d after the restart: %q %v", port6, body, err)
	}
	if r := d.run(dockerCLI, "exec", client, "ping", "-6", "-c", "1", "-W", "3", "web6"); r.code != 0 || !strings.Contains(r.stdout, ip6) {
		t.Errorf("ping6 by name after the restart: %s%s", r.stdout, r.stderr)
	}
	// A network given no IPv6 subnet gets a ULA /64.
	d.mustDocker("network", "create", "--ipv6", "-o", "com.docker.network.bridge.name="+br+"a", "v6auto")
	t.Cleanup(func() { removeBridge(br + "a") })
	got := d.mustDocker("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{end}}", "v6auto")
	f := strings.Fields(got)
	if len(f) != 2 || !strings.HasPrefix(f[1], "fd") || !strings.HasSuffix(f[1], "::/64") {
		t.Errorf("allocated subnets: %q", got)
	}
	d.mustDocker("network", "rm", "v6auto")

	veths := vethsOn(br)
	d.mustDocker("rm", "-f", web, client)
	if left := vethsOn(br); len(left) > 0 {
		t.Errorf("ports left on %s: %v (had %v)", br, left, veths)
	}
	for _, fam := range []string{"ip", "ip6"} {
		rules, err := exec.Command("nft", "list", "chain", fam, "berth-"+bridgeName(d), "ports").CombinedOutput()
		if err != nil || strings.Contains(string(rules), "dnat") {
			t.Errorf("%s port rules left: %v\n%s", fam, err, rules)
		}
	}
	if l, err := net.Listen("tcp6", fmt.Sprintf("[::1]:%d", port6)); err != nil {
		t.Errorf("[::1]:%d still held after rm: %v", port6, err)
	} else {
		l.Close()
	}
}

// bridgeName is the default bridge a test daemon was started with (its nftables table's suffix).
func bridgeName(d *daemon) string {
	br, _ := bridgeOf(d)
	return br
}
