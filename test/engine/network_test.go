package engine_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// bridgeOf is the bridge name and gateway/prefix a test daemon was started with.
func bridgeOf(d *daemon) (string, netip.Prefix) {
	var br, bip string
	for i, a := range d.args {
		if i+1 < len(d.args) {
			switch a {
			case "-b", "--bridge":
				br = d.args[i+1]
			case "--bip":
				bip = d.args[i+1]
			}
		}
	}
	return br, netip.MustParsePrefix(bip)
}

// freeLocalPort is a TCP port on 127.0.0.1 that nothing listens on now.
func freeLocalPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// httpGet fetches url from the host, retrying until deadline.
func httpGet(url string, within time.Duration) (string, error) {
	c := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(within)
	for {
		resp, err := c.Get(url)
		if err == nil {
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == 200 {
				return string(b), nil
			}
			err = fmt.Errorf("status %d %v", resp.StatusCode, rerr)
		}
		if time.Now().After(deadline) {
			return "", err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestNetBridgeAddresses: containers on the default bridge get an address, gateway and MAC as
// Docker shows them, and reach each other and the host reaches them.
func TestNetBridgeAddresses(t *testing.T) {
	d := withBusybox(t)
	br, bip := bridgeOf(d)
	a := d.mustDocker("run", "-d", "busybox", "sleep", "60")
	b := d.mustDocker("run", "-d", "busybox", "sleep", "60")
	for _, cli := range clients() {
		ip := d.must(cli, "inspect", "-f", "{{.NetworkSettings.Networks.bridge.IPAddress}}", a)
		addr, err := netip.ParseAddr(ip)
		if err != nil || !bip.Contains(addr) || addr == bip.Addr() {
			t.Fatalf("%s: address %q not in %s", cli, ip, bip)
		}
		if gw := d.must(cli, "inspect", "-f", "{{.NetworkSettings.Networks.bridge.Gateway}}", a); gw != bip.Addr().String() {
			t.Errorf("%s: gateway %q, want %s", cli, gw, bip.Addr())
		}
		four := addr.As4()
		if mac := d.must(cli, "inspect", "-f", "{{.NetworkSettings.Networks.bridge.MacAddress}}", a); mac != fmt.Sprintf("02:42:%02x:%02x:%02x:%02x", four[0], four[1], four[2], four[3]) {
			t.Errorf("%s: MAC %q", cli, mac)
		}
		if n := d.must(cli, "inspect", "-f", "{{.NetworkSettings.Networks.bridge.IPPrefixLen}}", a); n != strconv.Itoa(bip.Bits()) {
			t.Errorf("%s: prefix length %q", cli, n)
		}
	}
	// Below API 1.52 (both CLIs here negotiate 1.50) the top-level fields are there too; berth's
	// CLI reads them from the response as docker's does, though its API types no longer have them.
	for _, cli := range clients() {
		if ip := d.must(cli, "inspect", "-f", "{{.NetworkSettings.IPAddress}} {{.NetworkSettings.Gateway}}", a); ip != d.mustDocker("inspect", "-f", "{{.NetworkSettings.Networks.bridge.IPAddress}} {{.NetworkSettings.Networks.bridge.Gateway}}", a) {
			t.Errorf("%s: NetworkSettings.IPAddress and Gateway %q", cli, ip)
		}
	}
	ipA := d.mustDocker("inspect", "-f", "{{.NetworkSettings.Networks.bridge.IPAddress}}", a)
	ipB := d.mustDocker("inspect", "-f", "{{.NetworkSettings.Networks.bridge.IPAddress}}", b)
	if ipA == ipB {
		t.Fatalf("both containers have %s", ipA)
	}
	if r := d.run(dockerCLI, "exec", a, "ping", "-c", "1", "-W", "3", ipB); r.code != 0 {
		t.Errorf("ping %s from %s: %s%s", ipB, ipA, r.stdout, r.stderr)
	}
	if r := d.run(dockerCLI, "exec", b, "ping", "-c", "1", "-W", "3", ipA); r.code != 0 {
		t.Errorf("ping %s from %s: %s%s", ipA, ipB, r.stdout, r.stderr)
	}
	if out, err := exec.Command("busybox", "ping", "-c", "1", "-W", "3", ipA).CombinedOutput(); err != nil {
		t.Errorf("ping %s from the host: %v %s", ipA, err, out)
	}
	// /etc/hosts names the container with its address, as Docker's.
	if hosts := d.mustDocker("exec", a, "cat", "/etc/hosts"); !strings.HasSuffix(hosts, "\n"+ipA+"\t"+a[:12]) {
		t.Errorf("/etc/hosts: %q", hosts)
	}
	if route := d.mustDocker("exec", a, "ip", "route"); !strings.Contains(route, "default via "+bip.Addr().String()) {
		t.Errorf("routes: %q", route)
	}
	veths := vethsOn(br)
	if len(veths) != 2 {
		t.Errorf("ports of %s: %v", br, veths)
	}
	d.mustDocker("rm", "-f", a, b)
	assertNoNetworkLeft(t, d, br, veths, a, b)
	// The bridge stays while the daemon runs, as docker0 does.
	if err := exec.Command("ip", "link", "show", br).Run(); err != nil {
		t.Errorf("bridge %s gone: %v", br, err)
	}
}

// vethsOn lists the host ends plugged into bridge br.
func vethsOn(br string) []string {
	out, _ := exec.Command("ip", "-o", "link", "show", "master", br).CombinedOutput()
	var names []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(l); len(f) > 1 {
			name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
			names = append(names, name)
		}
	}
	return names
}

// assertNoNetworkLeft checks that nothing of the removed containers remains: no port on the
// bridge, none of the veths they had, no netns, no port rule.
func assertNoNetworkLeft(t *testing.T, d *daemon, br string, veths []string, ids ...string) {
	t.Helper()
	if left := vethsOn(br); len(left) > 0 {
		t.Errorf("ports left on %s: %v", br, left)
	}
	// A veth goes with its namespace, which the kernel tears down in the background.
	for _, v := range veths {
		deadline := time.Now().Add(5 * time.Second)
		for exec.Command("ip", "link", "show", v).Run() == nil {
			if time.Now().After(deadline) {
				t.Errorf("veth %s left", v)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for _, id := range ids {
		if _, err := os.Stat(d.dir + "/exec/netns/" + id); err == nil {
			t.Errorf("netns of %s left", id[:12])
		}
	}
	rules, err := exec.Command("nft", "list", "chain", "ip", "berth-"+br, "ports").CombinedOutput()
	if err != nil {
		t.Errorf("nft list chain: %v %s", err, rules)
	}
	if strings.Contains(string(rules), "dnat") {
		t.Errorf("port rules left:\n%s", rules)
	}
}

// TestNetPublishedPort: busybox httpd published on 127.0.0.1 answers the host, also from another
// container through the bridge's gateway (hairpin), keeps answering while the daemon is killed
// and after it restarts, and leaves nothing behind once removed.
func TestNetPublishedPort(t *testing.T) {
	d := withBusybox(t)
	br, bip := bridgeOf(d)
	port, port2 := freeLocalPort(t), freeLocalPort(t)
	id := d.mustDocker("run", "-d", "-p", fmt.Sprintf("127.0.0.1:%d:80", port), "-p", fmt.Sprintf("%d:80", port2), "busybox",
		"sh", "-c", "mkdir /www && echo hello from httpd > /www/index.html && exec httpd -f -p 80 -h /www")
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	if body, err := httpGet(url, 10*time.Second); err != nil || body != "hello from httpd\n" {
		t.Fatalf("GET %s: %q %v", url, body, err)
	}
	for _, cli := range clients() {
		if got := d.must(cli, "port", id, "80/tcp"); !strings.Contains(got, fmt.Sprintf("127.0.0.1:%d", port)) {
			t.Errorf("%s port: %q", cli, got)
		}
	}
	// Hairpin: a container reaches the published port through the gateway's address.
	gw := bip.Addr().String()
	if r := d.run(dockerCLI, "run", "--rm", "busybox", "wget", "-q", "-O", "-", fmt.Sprintf("http://%s:%d/", gw, port2)); r.stdout != "hello from httpd\n" {
		t.Errorf("wget from a container through %s:%d: %q %s", gw, port2, r.stdout, r.stderr)
	}
	ip := d.mustDocker("inspect", "-f", "{{.NetworkSettings.Networks.bridge.IPAddress}}", id)

	d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.exited
	d.exited <- nil
	if body, err := httpGet(url, 5*time.Second); err != nil || body != "hello from httpd\n" {
		t.Errorf("GET %s while the daemon is down: %q %v", url, body, err)
	}
	d2 := &daemon{t: t, dir: d.dir, sock: d.sock, pidfile: d.pidfile, dataRoot: d.dataRoot, log: d.log, args: d.args}
	d2.cmd = rerun(d)
	d2.start()
	if body, err := httpGet(url, 5*time.Second); err != nil || body != "hello from httpd\n" {
		t.Errorf("GET %s after the restart: %q %v", url, body, err)
	}
	if got := d2.mustDocker("inspect", "-f", "{{.NetworkSettings.Networks.bridge.IPAddress}}", id); got != ip {
		t.Errorf("address after the restart: %q, was %q", got, ip)
	}
	// The restarted daemon holds the host ports again: another process or container cannot take them.
	if l, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
		l.Close()
		t.Errorf("127.0.0.1:%d free while published", port)
	}
	for _, cli := range clients() {
		r := d2.run(cli, "run", "-d", "-p", fmt.Sprintf("%d:80", port2), "busybox", "true")
		if want := fmt.Sprintf("Bind for 0.0.0.0:%d failed: port is already allocated", port2); r.code == 0 || !strings.Contains(r.stderr, want) {
			t.Errorf("%s: a second binding of %d: %s%s", cli, port2, r.stdout, r.stderr)
		}
	}
	// A new container does not get the restored one's address.
	other := d2.mustDocker("run", "-d", "busybox", "sleep", "60")
	if got := d2.mustDocker("inspect", "-f", "{{.NetworkSettings.Networks.bridge.IPAddress}}", other); got == ip {
		t.Errorf("address %s given twice", ip)
	}
	veths := vethsOn(br)
	d2.mustDocker("rm", "-f", id, other)
	assertNoNetworkLeft(t, d2, br, veths, id, other)
	if _, err := httpGet(url, 0); err == nil {
		t.Errorf("%s still answers after rm", url)
	}
	if l, err := net.Listen("tcp4", fmt.Sprintf(":%d", port2)); err != nil {
		t.Errorf("port %d still held after rm: %v", port2, err)
	} else {
		l.Close()
	}
}

// userNetwork creates a user-defined network through cli with a bridge name and subnet of its
// own, removed (bridge included) when the test ends.
func userNetwork(t *testing.T, d *daemon, cli, name string, extra ...string) (bridge string, subnet netip.Prefix) {
	t.Helper()
	br, bip := testBridge()
	subnet = netip.MustParsePrefix(bip).Masked()
	args := append([]string{"network", "create", "--subnet", subnet.String(), "-o", "com.docker.network.bridge.name=" + br}, extra...)
	d.must(cli, append(args, name)...)
	t.Cleanup(func() {
		d.run(dockerCLI, "network", "rm", name)
		removeBridge(br)
	})
	return br, subnet
}

// TestNetUserNetworks: containers on a user network reach each other by name and alias through
// the embedded DNS; a container on another network cannot reach them until connected; network
// ls, inspect, rm and prune behave as Docker's.
func TestNetUserNetworks(t *testing.T) {
	d := withBusybox(t)
	for _, cli := range clients() {
		name := filepath.Base(cli)
		netA, netB := name+"-a", name+"-b"
		brA, subA := userNetwork(t, d, cli, netA, "--label", "berth.test=yes")
		userNetwork(t, d, cli, netB)
		web := d.must(cli, "run", "-d", "--name", name+"-web", "--network", netA, "--network-alias", "www", "busybox", "sleep", "60")
		ipWeb := d.must(cli, "inspect", "-f", "{{(index .NetworkSettings.Networks \""+netA+"\").IPAddress}}", web)
		if a, err := netip.ParseAddr(ipWeb); err != nil || !subA.Contains(a) {
			t.Fatalf("%s: address %q not in %s", name, ipWeb, subA)
		}
		for _, target := range []string{name + "-web", "www", web[:12]} {
			if r := d.run(cli, "run", "--rm", "--network", netA, "busybox", "ping", "-c", "1", "-W", "3", target); r.code != 0 || !strings.Contains(r.stdout, ipWeb) {
				t.Errorf("%s: ping %s on %s: %s%s", name, target, netA, r.stdout, r.stderr)
			}
		}
		if r := d.run(cli, "run", "--rm", "--network", netA, "busybox", "cat", "/etc/resolv.conf"); !strings.Contains(r.stdout, "nameserver 127.0.0.11\n") {
			t.Errorf("%s: resolv.conf on a user network: %q", name, r.stdout)
		}
		// Isolation: from the other network neither the name nor the address answers.
		// --dns 127.0.0.1: names the embedded server does not know are forwarded there (from the
		// host's namespace), never to the host's resolvers.
		other := d.must(cli, "run", "-d", "--name", name+"-other", "--network", netB, "--dns", "127.0.0.1", "busybox", "sleep", "60")
		if r := d.run(cli, "exec", other, "ping", "-c", "1", "-W", "1", ipWeb); r.code == 0 {
			t.Errorf("%s: %s reached %s across networks", name, netB, ipWeb)
		}
		if r := d.run(cli, "exec", other, "nslookup", name+"-web", "127.0.0.11"); strings.Contains(r.stdout, ipWeb) {
			t.Errorf("%s: name of %s resolved from %s: %s", name, netA, netB, r.stdout)
		}
		// connect with a static address: now it reaches web by name; disconnect undoes it.
		static := subA.Addr().Next().Next().Next().Next().Next().Next().Next().Next().Next().Next()
		d.must(cli, "network", "connect", "--ip", static.String(), netA, other)
		if got := d.must(cli, "inspect", "-f", "{{(index .NetworkSettings.Networks \""+netA+"\").IPAddress}}", other); got != static.String() {
			t.Errorf("%s: connect --ip: %q", name, got)
		}
		if r := d.run(cli, "exec", other, "ping", "-c", "1", "-W", "3", name+"-web"); r.code != 0 {
			t.Errorf("%s: after connect: %s%s", name, r.stdout, r.stderr)
		}
		d.must(cli, "network", "disconnect", netA, other)
		if r := d.run(cli, "exec", other, "ping", "-c", "1", "-W", "1", ipWeb); r.code == 0 {
			t.Errorf("%s: reached %s after disconnect", name, ipWeb)
		}
		if ifs := d.must(cli, "exec", other, "ls", "/sys/class/net"); ifs != "eth0\nlo" {
			t.Errorf("%s: interfaces after disconnect: %q", name, ifs)
		}
		// ls, inspect.
		if got := d.must(cli, "network", "ls", "-q", "--filter", "label=berth.test=yes"); len(got) != 12 {
			t.Errorf("%s: ls --filter label: %q", name, got)
		}
		if got := d.must(cli, "network", "ls", "--format", "{{.Name}}", "--filter", "name="+name+"-"); got != netA+"\n"+netB {
			t.Errorf("%s: ls --filter name: %q", name, got)
		}
		if got := d.must(cli, "network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}} {{len .Containers}} {{.Options}}", netA); got != subA.String()+" 1 map[com.docker.network.bridge.name:"+brA+"]" {
			t.Errorf("%s: inspect: %q", name, got)
		}
		if r := d.run(cli, "network", "rm", netA); r.code == 0 {
			t.Errorf("%s: a network in use was removed", name)
		}
		d.must(cli, "rm", "-f", web, other)
		d.must(cli, "network", "rm", netA)
		if err := exec.Command("ip", "link", "show", brA).Run(); err == nil {
			t.Errorf("%s: bridge %s left after network rm", name, brA)
		}
		if got := d.must(cli, "network", "prune", "-f"); !strings.Contains(got, netB) {
			t.Errorf("%s: prune: %q", name, got)
		}
		if got := d.must(cli, "network", "ls", "-q", "--filter", "name="+name+"-"); got != "" {
			t.Errorf("%s: networks left: %q", name, got)
		}
	}
}

// TestNetPublishAll: -P publishes the exposed ports on random host ports, `port` shows them, and
// they answer through 127.0.0.1; a range maps port to port.
func TestNetPublishAll(t *testing.T) {
	d := withBusybox(t)
	for _, cli := range clients() {
		name := filepath.Base(cli)
		id := d.must(cli, "run", "-d", "-P", "--expose", "80", "busybox",
			"sh", "-c", "mkdir /www && echo hello -P > /www/index.html && exec httpd -f -p 80 -h /www")
		out := d.must(cli, "port", id)
		_, hostPort, ok := strings.Cut(out, "0.0.0.0:")
		if !strings.HasPrefix(out, "80/tcp -> 0.0.0.0:") || !ok {
			t.Fatalf("%s port: %q", name, out)
		}
		hostPort = strings.Fields(hostPort)[0]
		if body, err := httpGet("http://127.0.0.1:"+hostPort+"/", 10*time.Second); err != nil || body != "hello -P\n" {
			t.Errorf("%s: GET through the random port %s: %q %v", name, hostPort, body, err)
		}
		if ps := d.must(cli, "ps", "--format", "{{.Ports}}", "--filter", "id="+id); !strings.Contains(ps, "0.0.0.0:"+hostPort+"->80/tcp") {
			t.Errorf("%s ps ports: %q", name, ps)
		}
		lo := freeLocalPort(t)
		rid := d.must(cli, "run", "-d", "-p", fmt.Sprintf("127.0.0.1:%d-%d:7000-7001/udp", lo, lo+1), "busybox", "sleep", "60")
		if got := d.must(cli, "port", rid); !strings.Contains(got, fmt.Sprintf("7001/udp -> 127.0.0.1:%d", lo+1)) {
			t.Errorf("%s: port range: %q", name, got)
		}
		d.must(cli, "rm", "-f", id, rid)
	}
}

// TestNetModesAndLinks: --network container:<id> shares the other's interfaces; --link and
// --add-host write /etc/hosts as Docker's; an --internal network has no default route.
func TestNetModesAndLinks(t *testing.T) {
	d := withBusybox(t)
	for _, cli := range clients() {
		name := filepath.Base(cli)
		target := d.must(cli, "run", "-d", "--name", name+"-lnk", "busybox", "sleep", "60")
		ip := d.must(cli, "inspect", "-f", "{{.NetworkSettings.Networks.bridge.IPAddress}}", target)
		if got := d.must(cli, "run", "--rm", "--network", "container:"+name+"-lnk", "busybox", "ip", "-4", "-o", "addr"); !strings.Contains(got, "inet "+ip+"/") {
			t.Errorf("%s --network container: %q, want %s", name, got, ip)
		}
		hosts := d.must(cli, "run", "--rm", "--link", name+"-lnk:db", "--add-host", "foo.example:10.1.2.3", "busybox", "cat", "/etc/hosts")
		if !strings.Contains(hosts, "\n10.1.2.3\tfoo.example\n") || !strings.Contains(hosts, "\n"+ip+"\tdb "+target[:12]+" "+name+"-lnk\n") {
			t.Errorf("%s /etc/hosts with --link and --add-host:\n%s", name, hosts)
		}
		if r := d.run(cli, "run", "--rm", "--link", name+"-lnk:db", "busybox", "ping", "-c", "1", "-W", "3", "db"); r.code != 0 {
			t.Errorf("%s: ping a link by alias: %s%s", name, r.stdout, r.stderr)
		}
		d.must(cli, "rm", "-f", target)
	}
	userNetwork(t, d, dockerCLI, "internal", "--internal")
	if got := d.mustDocker("run", "--rm", "--network", "internal", "busybox", "ip", "route"); strings.Contains(got, "default") {
		t.Errorf("routes on an internal network: %q", got)
	}
}

// TestNetDNSForwardAndRestart: names the embedded DNS server does not know are forwarded from the
// host's namespace, so a resolver on the host's loopback (as systemd-resolved's stub) answers
// them; after berthd is killed and restarted, running containers resolve names again.
func TestNetDNSForwardAndRestart(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:53")
	if err != nil {
		t.Skipf("no resolver of the test's own on 127.0.0.1:53: %v", err)
	}
	defer pc.Close()
	go fakeResolver(pc, "outside.berth.test.", [4]byte{10, 9, 9, 9})
	d := withBusybox(t)
	userNetwork(t, d, dockerCLI, "dnsnet")
	d.mustDocker("run", "-d", "--name", "target", "--network", "dnsnet", "busybox", "sleep", "60")
	client := d.mustDocker("run", "-d", "--network", "dnsnet", "--dns", "127.0.0.1", "busybox", "sleep", "60")
	if got := d.run(dockerCLI, "exec", client, "nslookup", "outside.berth.test"); !strings.Contains(got.stdout, "10.9.9.9") {
		t.Errorf("forwarded name: %s%s", got.stdout, got.stderr)
	}
	d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.exited
	d.exited <- nil
	d2 := &daemon{t: t, dir: d.dir, sock: d.sock, pidfile: d.pidfile, dataRoot: d.dataRoot, log: d.log, args: d.args}
	d2.cmd = rerun(d)
	d2.start()
	if r := d2.run(dockerCLI, "exec", client, "ping", "-c", "1", "-W", "3", "target"); r.code != 0 {
		t.Errorf("name after the daemon's restart: %s%s", r.stdout, r.stderr)
	}
	d2.run(dockerCLI, "rm", "-f", "target", client)
}

// fakeResolver answers A queries for name with addr, and NXDOMAIN otherwise (a minimal DNS
// responder: enough for busybox's nslookup).
func fakeResolver(pc net.PacketConn, name string, addr [4]byte) {
	buf := make([]byte, 512)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if n < 12 {
			continue
		}
		q := buf[12:n]
		// The question's name, as labels.
		var labels []string
		i := 0
		for i < len(q) && q[i] != 0 {
			l := int(q[i])
			if i+1+l > len(q) {
				break
			}
			labels = append(labels, string(q[i+1:i+1+l]))
			i += 1 + l
		}
		if i+5 > len(q) {
			continue
		}
		qtype := int(q[i+1])<<8 | int(q[i+2])
		question := q[:i+5]
		resp := append([]byte{}, buf[:2]...)
		found := strings.EqualFold(strings.Join(labels, ".")+".", name)
		flags := []byte{0x81, 0x80}
		if !found {
			flags[1] = 0x83 // NXDOMAIN
		}
		answers := 0
		if found && qtype == 1 {
			answers = 1
		}
		resp = append(resp, flags...)
		resp = append(resp, 0, 1, 0, byte(answers), 0, 0, 0, 0)
		resp = append(resp, question...)
		if answers == 1 {
			resp = append(resp, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4)
			resp = append(resp, addr[:]...)
		}
		pc.WriteTo(resp, from)
	}
}

// TestNetMACAddress: --mac-address from either client (in the endpoint settings of the network,
// keyed "default" by docker's CLI) sets eth0's address and inspect's.
func TestNetMACAddress(t *testing.T) {
	d := withBusybox(t)
	for i, cli := range clients() {
		mac := fmt.Sprintf("92:d0:c6:0a:29:3%d", i)
		id := d.must(cli, "run", "-d", "--mac-address", mac, "busybox", "sleep", "60")
		if got := d.must(cli, "exec", id, "cat", "/sys/class/net/eth0/address"); got != mac {
			t.Errorf("%s: eth0 has %q, want %s", filepath.Base(cli), got, mac)
		}
		if got := d.must(cli, "inspect", "-f", "{{.NetworkSettings.Networks.bridge.MacAddress}}", id); got != mac {
			t.Errorf("%s: inspect %q", filepath.Base(cli), got)
		}
		d.must(cli, "rm", "-f", id)
	}
}

// TestNetNoBridge: with -b none the daemon makes no bridge and no nftables table, and a
// container without --network (or with --network bridge) has its loopback alone, as with
// dockerd's -b none.
func TestNetNoBridge(t *testing.T) {
	// Cleaned up even if the daemon wrongly made it.
	t.Cleanup(func() { exec.Command("nft", "delete", "table", "ip", "berth-none").Run() })
	d := startDaemon(t, "-b", "none")
	tarPath, _ := busyboxTar(t)
	if r := d.runIn(tarPath, dockerCLI, "import", "-c", `CMD ["sh"]`, "-", "busybox"); r.code != 0 {
		t.Fatalf("import: %s", r.stderr)
	}
	for _, cli := range clients() {
		for _, args := range [][]string{{"run", "--rm"}, {"run", "--rm", "--network", "bridge"}} {
			out := d.must(cli, append(args, "busybox", "ip", "-o", "link")...)
			if links := strings.Split(out, "\n"); len(links) != 1 || !strings.Contains(links[0], ": lo:") {
				t.Errorf("%s %v: links %q", filepath.Base(cli), args, out)
			}
		}
		id := d.must(cli, "create", "busybox")
		got := d.must(cli, "inspect", "-f", "{{.HostConfig.NetworkMode}} {{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.EndpointID}}{{end}}", id)
		if got != "default bridge=" {
			t.Errorf("%s inspect: %q", filepath.Base(cli), got)
		}
		d.must(cli, "rm", id)
		if got := d.must(cli, "network", "ls", "--format", "{{.Name}}"); got != "host\nnone" {
			t.Errorf("%s network ls: %q", filepath.Base(cli), got)
		}
	}
	if out, err := exec.Command("nft", "list", "table", "ip", "berth-none").CombinedOutput(); err == nil {
		t.Errorf("-b none made an nftables table:\n%s", out)
	}
	if err := exec.Command("ip", "link", "show", "none").Run(); err == nil {
		t.Errorf("-b none made a link named none")
	}
}
