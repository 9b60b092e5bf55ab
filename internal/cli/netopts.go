package cli

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/docker/go-connections/nat"
	ctypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/spf13/pflag"
)

// netOptions are run/create's network flags, as docker's.
type netOptions struct {
	publish, expose                    []string
	publishAll                         bool
	ip, mac                            string
	aliases, links                     []string
	dns, dnsSearch, dnsOption, addHost []string
	networking                         *network.NetworkingConfig // set by apply
}

func addNetworkFlags(f *pflag.FlagSet) *netOptions {
	o := &netOptions{}
	f.StringArrayVarP(&o.publish, "publish", "p", nil, "Publish a container's port(s) to the host")
	f.BoolVarP(&o.publishAll, "publish-all", "P", false, "Publish all exposed ports to random ports")
	f.StringArrayVar(&o.expose, "expose", nil, "Expose a port or a range of ports")
	f.StringVar(&o.ip, "ip", "", "IPv4 address (e.g., 172.30.100.104)")
	f.StringVar(&o.mac, "mac-address", "", "Container MAC address (e.g., 92:d0:c6:0a:29:33)")
	f.StringArrayVar(&o.aliases, "network-alias", nil, "Add network-scoped alias for the container")
	f.StringArrayVar(&o.links, "link", nil, "Add link to another container")
	f.StringArrayVar(&o.dns, "dns", nil, "Set custom DNS servers")
	f.StringArrayVar(&o.dnsSearch, "dns-search", nil, "Set custom DNS search domains")
	f.StringArrayVar(&o.dnsOption, "dns-option", nil, "Set DNS options")
	f.StringArrayVar(&o.addHost, "add-host", nil, "Add a custom host-to-IP mapping (host:ip)")
	return o
}

// apply puts the flags into the create request and prepares its NetworkingConfig.
func (o *netOptions) apply(cfg *ctypes.Config, host *ctypes.HostConfig) error {
	exposed, bindings, err := nat.ParsePortSpecs(o.publish)
	if err != nil {
		return err
	}
	for _, e := range o.expose {
		proto, ports := nat.SplitProtoPort(e)
		lo, hi, err := nat.ParsePortRangeToInt(ports)
		if err != nil {
			return fmt.Errorf("invalid range format for --expose: %s, error: %w", e, err)
		}
		for p := lo; p <= hi; p++ {
			np, err := nat.NewPort(proto, fmt.Sprint(p))
			if err != nil {
				return err
			}
			exposed[np] = struct{}{}
		}
	}
	if len(exposed) > 0 {
		cfg.ExposedPorts = network.PortSet{}
		for p := range exposed {
			port, err := network.ParsePort(string(p))
			if err != nil {
				return err
			}
			cfg.ExposedPorts[port] = struct{}{}
		}
	}
	if len(bindings) > 0 {
		host.PortBindings = network.PortMap{}
		for p, bs := range bindings {
			port, err := network.ParsePort(string(p))
			if err != nil {
				return err
			}
			for _, b := range bs {
				pb := network.PortBinding{HostPort: b.HostPort}
				if b.HostIP != "" {
					if pb.HostIP, err = netip.ParseAddr(strings.Trim(b.HostIP, "[]")); err != nil {
						return fmt.Errorf("invalid IP address: %s", b.HostIP)
					}
				}
				host.PortBindings[port] = append(host.PortBindings[port], pb)
			}
		}
	}
	host.PublishAllPorts = o.publishAll
	for _, d := range o.dns {
		a, err := netip.ParseAddr(d)
		if err != nil {
			return fmt.Errorf("%s is not an ip address", d)
		}
		host.DNS = append(host.DNS, a)
	}
	host.DNSSearch, host.DNSOptions, host.Links = o.dnsSearch, o.dnsOption, o.links
	for _, h := range o.addHost {
		name, ip, ok := strings.Cut(h, ":")
		if !ok || name == "" {
			return fmt.Errorf("bad format for add-host: %q", h)
		}
		if _, err := netip.ParseAddr(strings.Trim(ip, "[]")); err != nil && ip != "host-gateway" {
			return fmt.Errorf("invalid IP address in add-host: %q", ip)
		}
		host.ExtraHosts = append(host.ExtraHosts, h)
	}
	es := &network.EndpointSettings{Aliases: o.aliases}
	if o.ip != "" {
		a, err := netip.ParseAddr(o.ip)
		if err != nil || !a.Is4() {
			return fmt.Errorf("invalid IPv4 address: %s", o.ip)
		}
		es.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: a}
	}
	if o.mac != "" {
		m, err := net.ParseMAC(o.mac)
		if err != nil {
			return fmt.Errorf("%s is not a valid mac address", o.mac)
		}
		es.MacAddress = network.HardwareAddr(m)
	}
	mode := string(host.NetworkMode)
	if (mode == "host" || mode == "none") && (len(o.publish) > 0 || o.publishAll) {
		// As docker: published ports are discarded on these modes (dockerd warns); keep them out.
		host.PortBindings, host.PublishAllPorts = nil, false
	}
	if len(es.Aliases) > 0 || es.IPAMConfig != nil || len(es.MacAddress) > 0 {
		if mode == "host" || mode == "none" || strings.HasPrefix(mode, "container:") {
			return errors.New("conflicting options: network-scoped settings need a network")
		}
		if mode == "" || mode == "default" {
			mode = "bridge"
		}
		o.networking = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{mode: es}}
	}
	return nil
}
