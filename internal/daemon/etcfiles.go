package daemon

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"

	"github.com/berthproject/berth/internal/atomicfile"
	"github.com/berthproject/berth/internal/container"
	"github.com/berthproject/berth/internal/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The files Docker writes for each container and bind-mounts over the image's.
const (
	hostnameFile   = "hostname"
	hostsFile      = "hosts"
	resolvConfFile = "resolv.conf"
)

// defaultHosts is Docker's /etc/hosts for a container without other entries.
const defaultHosts = `127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
fe00::0	ip6-localnet
ff00::0	ip6-mcastprefix
ff02::1	ip6-allnodes
ff02::2	ip6-allrouters
`

// Docker's fallback when the host has no nameserver a container can reach (only loopback ones).
var fallbackNameservers = []string{"8.8.8.8", "8.8.4.4"}

// writeEtcFiles writes the container's hostname, hosts and resolv.conf in its directory.
func (d *Daemon) writeEtcFiles(c *container.Container, hostname string, hostNetwork bool) error {
	dir := d.containers.Dir(c.ID)
	hosts := []byte(defaultHosts)
	resolv, _ := os.ReadFile("/etc/resolv.conf")
	if hostNetwork {
		// On the host's network the host's view applies as it is.
		if b, err := os.ReadFile("/etc/hosts"); err == nil {
			hosts = b
		}
		hosts = append(hosts, d.extraHosts(c)...)
	} else {
		resolv = containerResolvConf(resolv)
		hosts = append(hosts, d.extraHosts(c)...) // --add-host and --link, then its own line, as Docker
		if ip, ok := d.containerAddr(c.ID); ok {
			hosts = append(hosts, ip.String()+"\t"+hostname+"\n"...) // as Docker: the container's own name
		}
		if ip6, ok := d.containerAddr6(c.ID); ok {
			hosts = append(hosts, ip6.String()+"\t"+hostname+"\n"...)
		}
		resolv = d.resolvConf(c, resolv)
	}
	for name, content := range map[string][]byte{hostnameFile: []byte(hostname + "\n"), hostsFile: hosts, resolvConfFile: resolv} {
		// Rewritten at every start: no fsync.
		if err := atomicfile.WriteFileNoSync(filepath.Join(dir, name), content, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// etcMounts are the bind mounts of the files writeEtcFiles writes, leaving out any path the user
// mounts something over.
func (d *Daemon) etcMounts(c *container.Container, user []specs.Mount) []specs.Mount {
	dir := d.containers.Dir(c.ID)
	var out []specs.Mount
	for _, f := range []struct{ name, dest string }{
		{resolvConfFile, "/etc/resolv.conf"}, {hostnameFile, "/etc/hostname"}, {hostsFile, "/etc/hosts"},
	} {
		if mountedOver(user, f.dest) {
			continue
		}
		out = append(out, oci.BindMount(filepath.Join(dir, f.name), f.dest, false, "rprivate"))
	}
	return out
}

func mountedOver(mounts []specs.Mount, dest string) bool {
	for _, m := range mounts {
		if filepath.Clean(m.Destination) == dest {
			return true
		}
	}
	return false
}

// containerResolvConf is the host's resolv.conf for a container in its own network namespace:
// loopback nameservers (a local stub such as systemd-resolved's 127.0.0.53) cannot be reached
// from there and are dropped; with none left, Docker's public fallback is used.
func containerResolvConf(host []byte) []byte {
	var out bytes.Buffer
	servers := 0
	sc := bufio.NewScanner(bytes.NewReader(host))
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "nameserver" {
			if strings.HasPrefix(f[1], "127.") || f[1] == "::1" {
				continue
			}
			servers++
		}
		out.WriteString(line + "\n")
	}
	if servers == 0 {
		for _, ns := range fallbackNameservers {
			out.WriteString("nameserver " + ns + "\n")
		}
	}
	return out.Bytes()
}
