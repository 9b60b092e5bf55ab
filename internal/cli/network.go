package cli

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	ctypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// networkCmd is `berth network`: create, ls, inspect, rm, prune, connect, disconnect.
func networkCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "network", Short: "Manage networks", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() }}
	cmd.AddCommand(networkCreateCmd(e), networkLsCmd(e), networkInspectCmd(e), networkRmCmd(e), networkPruneCmd(e),
		networkConnectCmd(e), networkDisconnectCmd(e))
	return cmd
}

func networkCreateCmd(e *env) *cobra.Command {
	var driver string
	var subnets, gateways, ranges, labels, opts []string
	var internal, ipv6 bool
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] NETWORK",
		Short: "Create a network",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			o := client.NetworkCreateOptions{Driver: driver, Internal: internal, Labels: kvMap(labels), Options: kvMap(opts)}
			if ipv6 {
				o.EnableIPv6 = &ipv6
			}
			if len(subnets) > 0 || len(gateways) > 0 || len(ranges) > 0 {
				if len(gateways) > len(subnets) || len(ranges) > len(subnets) {
					return errors.New("every gateway and ip range needs a subnet")
				}
				ipam := &network.IPAM{Driver: "default"}
				for i, s := range subnets {
					p, err := netip.ParsePrefix(s)
					if err != nil {
						return fmt.Errorf("invalid subnet %s: %w", s, err)
					}
					cfg := network.IPAMConfig{Subnet: p}
					if i < len(gateways) {
						if cfg.Gateway, err = netip.ParseAddr(gateways[i]); err != nil {
							return fmt.Errorf("invalid gateway %s: %w", gateways[i], err)
						}
					}
					if i < len(ranges) {
						if cfg.IPRange, err = netip.ParsePrefix(ranges[i]); err != nil {
							return fmt.Errorf("invalid ip range %s: %w", ranges[i], err)
						}
					}
					ipam.Config = append(ipam.Config, cfg)
				}
				o.IPAM = ipam
			}
			res, err := c.NetworkCreate(cmd.Context(), args[0], o)
			if err != nil {
				return err
			}
			fmt.Fprintln(e.out, res.ID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&driver, "driver", "d", "bridge", "Driver to manage the Network")
	f.StringArrayVar(&subnets, "subnet", nil, "Subnet in CIDR format that represents a network segment")
	f.StringArrayVar(&gateways, "gateway", nil, "IPv4 or IPv6 Gateway for the master subnet")
	f.StringArrayVar(&ranges, "ip-range", nil, "Allocate container ip from a sub-range")
	f.StringArrayVar(&labels, "label", nil, "Set metadata on a network")
	f.StringArrayVarP(&opts, "opt", "o", nil, "Set driver specific options")
	f.BoolVar(&internal, "internal", false, "Restrict external access to the network")
	f.BoolVar(&ipv6, "ipv6", false, "Enable IPv6 networking")
	return cmd
}

// kvMap turns k=v flags into a map (a bare k is k="").
func kvMap(list []string) map[string]string {
	if len(list) == 0 {
		return nil
	}
	m := map[string]string{}
	for _, kv := range list {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

func networkLsCmd(e *env) *cobra.Command {
	var quiet, noTrunc bool
	var format string
	var filterArgs []string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List networks",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			f, err := parseFilterFlags(filterArgs)
			if err != nil {
				return err
			}
			res, err := c.NetworkList(cmd.Context(), client.NetworkListOptions{Filters: f})
			if err != nil {
				return err
			}
			if quiet {
				format = "{{.ID}}"
			}
			rows := make([]networkRow, 0, len(res.Items))
			for _, n := range res.Items {
				rows = append(rows, networkRow{n: n, trunc: !noTrunc})
			}
			return printRows(e.out, format, "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}", networkRow{listRow: listRow{header: true}}, rows)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&quiet, "quiet", "q", false, "Only display network IDs")
	f.BoolVar(&noTrunc, "no-trunc", false, "Do not truncate the output")
	f.StringVar(&format, "format", "", "Pretty-print networks using a Go template")
	f.StringArrayVarP(&filterArgs, "filter", "f", nil, "Provide filter values (e.g. 'driver=bridge')")
	return cmd
}

// networkRow is one network as network ls --format templates see it (docker's field names).
type networkRow struct {
	n     network.Summary
	trunc bool
	listRow
}

func (r networkRow) ID() string {
	return r.pick("NETWORK ID", shortID(r.n.ID, r.trunc))
}
func (r networkRow) Name() string     { return r.pick("NAME", r.n.Name) }
func (r networkRow) Driver() string   { return r.pick("DRIVER", r.n.Driver) }
func (r networkRow) Scope() string    { return r.pick("SCOPE", r.n.Scope) }
func (r networkRow) IPv6() string     { return r.pick("IPV6", fmt.Sprint(r.n.EnableIPv6)) }
func (r networkRow) Internal() string { return r.pick("INTERNAL", fmt.Sprint(r.n.Internal)) }
func (r networkRow) CreatedAt() string {
	return r.pick("CREATED AT", r.n.Created.String())
}
func (r networkRow) Labels() string {
	var kv []string
	for k, v := range r.n.Labels {
		kv = append(kv, k+"="+v)
	}
	return r.pick("LABELS", strings.Join(kv, ","))
}

func networkInspectCmd(e *env) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NETWORK [NETWORK...]",
		Short: "Display detailed information on one or more networks",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var items []any
			failed := forEachArg(e, args, func(c *client.Client, ref string) error {
				res, err := c.NetworkInspect(cmd.Context(), ref, client.NetworkInspectOptions{})
				if err != nil {
					return err
				}
				items = append(items, inspected{res.Network, res.Raw})
				return nil
			})
			return inspectResult(e, items, format, failed)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format the output using the given Go template")
	return cmd
}

func networkRmCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "rm NETWORK [NETWORK...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more networks",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return forEachArg(e, args, func(c *client.Client, ref string) error {
				if _, err := c.NetworkRemove(cmd.Context(), ref, client.NetworkRemoveOptions{}); err != nil {
					return err
				}
				fmt.Fprintln(e.out, ref)
				return nil
			})
		},
	}
}

func networkPruneCmd(e *env) *cobra.Command {
	var force bool
	var filterArgs []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all unused networks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			if !force {
				fmt.Fprint(e.out, "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ")
				var answer string
				fmt.Fscanln(e.in, &answer)
				if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
					return nil
				}
			}
			f, err := parseFilterFlags(filterArgs)
			if err != nil {
				return err
			}
			res, err := c.NetworkPrune(cmd.Context(), client.NetworkPruneOptions{Filters: f})
			if err != nil {
				return err
			}
			if len(res.Report.NetworksDeleted) > 0 {
				fmt.Fprintln(e.out, "Deleted Networks:")
				for _, n := range res.Report.NetworksDeleted {
					fmt.Fprintln(e.out, n)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().StringArrayVar(&filterArgs, "filter", nil, "Provide filter values (e.g. 'until=<timestamp>')")
	return cmd
}

func networkConnectCmd(e *env) *cobra.Command {
	var ip string
	var aliases []string
	cmd := &cobra.Command{
		Use:   "connect [OPTIONS] NETWORK CONTAINER",
		Short: "Connect a container to a network",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			es := &network.EndpointSettings{Aliases: aliases}
			if ip != "" {
				a, err := netip.ParseAddr(ip)
				if err != nil {
					return fmt.Errorf("invalid IP address %s", ip)
				}
				es.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: a}
			}
			_, err = c.NetworkConnect(cmd.Context(), args[0], client.NetworkConnectOptions{Container: args[1], EndpointConfig: es})
			return err
		},
	}
	cmd.Flags().StringVar(&ip, "ip", "", "IPv4 address (e.g., \"172.30.100.104\")")
	cmd.Flags().StringArrayVar(&aliases, "alias", nil, "Add network-scoped alias for the container")
	return cmd
}

func networkDisconnectCmd(e *env) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "disconnect [OPTIONS] NETWORK CONTAINER",
		Short: "Disconnect a container from a network",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			_, err = c.NetworkDisconnect(cmd.Context(), args[0], client.NetworkDisconnectOptions{Container: args[1], Force: force})
			return err
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the container to disconnect from a network")
	return cmd
}

// displayablePorts is ps's PORTS column as docker's: ports sorted by container port; unpublished
// ports and ports published on the same number grouped into ranges ("443/tcp",
// "0.0.0.0:8000-8001->8000-8001/tcp"); other mappings one by one after them.
func displayablePorts(ports []ctypes.PortSummary) string {
	sorted := append([]ctypes.PortSummary{}, ports...)
	sort.Slice(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if a.PrivatePort != b.PrivatePort {
			return a.PrivatePort < b.PrivatePort
		}
		if a.IP != b.IP {
			return a.IP.Less(b.IP)
		}
		if a.PublicPort != b.PublicPort {
			return a.PublicPort < b.PublicPort
		}
		return a.Type < b.Type
	})
	type group struct {
		ip, proto   string
		first, last uint16
	}
	var groups []*group
	byKey := map[string]*group{}
	var mappings []string
	for _, p := range sorted {
		ip := ""
		if p.IP.IsValid() {
			ip = p.IP.String()
			if p.PublicPort != p.PrivatePort {
				mappings = append(mappings, fmt.Sprintf("%s->%d/%s", net.JoinHostPort(ip, strconv.Itoa(int(p.PublicPort))), p.PrivatePort, p.Type))
				continue
			}
		}
		key := ip + "/" + p.Type
		if g := byKey[key]; g != nil && p.PrivatePort == g.last+1 {
			g.last = p.PrivatePort
			continue
		}
		g := &group{ip: ip, proto: p.Type, first: p.PrivatePort, last: p.PrivatePort}
		byKey[key] = g
		groups = append(groups, g)
	}
	var out []string
	for _, g := range groups {
		r := strconv.Itoa(int(g.first))
		if g.last != g.first {
			r += "-" + strconv.Itoa(int(g.last))
		}
		if g.ip == "" {
			out = append(out, r+"/"+g.proto)
		} else {
			out = append(out, net.JoinHostPort(g.ip, r)+"->"+r+"/"+g.proto)
		}
	}
	return strings.Join(append(out, mappings...), ", ")
}
