package api

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/netip"

	"github.com/berthproject/berth/internal/filters"

	ctypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// legacyNetworkSettings adds the fields Docker's inspect still shows below API 1.52: the default
// bridge's endpoint repeated at the top of NetworkSettings (the docker 20.10 CLI's
// {{.NetworkSettings.IPAddress}}).
type legacyNetworkSettings struct {
	*ctypes.NetworkSettings
	Bridge                 string
	HairpinMode            bool
	LinkLocalIPv6Address   string
	LinkLocalIPv6PrefixLen int
	SecondaryIPAddresses   []string
	SecondaryIPv6Addresses []string
	EndpointID             string
	Gateway                string
	GlobalIPv6Address      string
	GlobalIPv6PrefixLen    int
	IPAddress              string
	IPPrefixLen            int
	IPv6Gateway            string
	MacAddress             string
}

type legacyInspect struct {
	*ctypes.InspectResponse
	NetworkSettings *legacyNetworkSettings
}

func withLegacyNetwork(c *ctypes.InspectResponse, apiVersion string) any {
	if c.NetworkSettings == nil || !versionLess(apiVersion, "1.52") {
		return c
	}
	l := &legacyNetworkSettings{NetworkSettings: c.NetworkSettings}
	if es := c.NetworkSettings.Networks["bridge"]; es != nil {
		l.EndpointID, l.IPPrefixLen = es.EndpointID, es.IPPrefixLen
		l.Gateway, l.IPAddress, l.MacAddress = addr(es.Gateway), addr(es.IPAddress), es.MacAddress.String()
	}
	return legacyInspect{InspectResponse: c, NetworkSettings: l}
}

func addr(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// NetworkBackend answers the network routes.
type NetworkBackend interface {
	NetworkCreate(ctx context.Context, req network.CreateRequest) (*network.CreateResponse, error)
	NetworkList(ctx context.Context, f filters.Args) ([]network.Summary, error)
	NetworkInspect(ctx context.Context, ref string) (*network.Inspect, error)
	NetworkRemove(ctx context.Context, ref string) error
	NetworkPrune(ctx context.Context, f filters.Args) (*network.PruneReport, error)
	NetworkConnect(ctx context.Context, ref string, req network.ConnectRequest) error
	NetworkDisconnect(ctx context.Context, ref string, req network.DisconnectRequest) error
}

// networkConfigurer records, at container create, the networks the request names; it returns
// what to call once the container has its id.
type networkConfigurer interface {
	NetworkSetContainerConfig(ctx context.Context, h *ctypes.HostConfig, nc *network.NetworkingConfig) (func(id string) error, error)
}

// networkRoutes registers /networks when the backend has networks.
func (s *Server) networkRoutes(backend any) {
	b, ok := backend.(NetworkBackend)
	if !ok {
		return
	}
	s.handle("GET /networks", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		f, err := filters.Parse(r.URL.Query().Get("filters"))
		if err != nil {
			return err
		}
		if err := f.Validate("dangling", "driver", "id", "label", "name", "scope", "type"); err != nil {
			return err
		}
		list, err := b.NetworkList(ctx, f)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, list)
	})
	s.handle("GET /networks/{id}", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		n, err := b.NetworkInspect(ctx, r.PathValue("id"))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, n)
	})
	s.handle("POST /networks/create", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		var req network.CreateRequest
		if err := decodeBody(r, &req); err != nil {
			return err
		}
		resp, err := b.NetworkCreate(ctx, req)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusCreated, resp)
	})
	s.handle("DELETE /networks/{id}", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		if err := b.NetworkRemove(ctx, r.PathValue("id")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
	s.handle("POST /networks/prune", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		f, err := filters.Parse(r.URL.Query().Get("filters"))
		if err != nil {
			return err
		}
		rep, err := b.NetworkPrune(ctx, f)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, rep)
	})
	s.handle("POST /networks/{id}/connect", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		var req network.ConnectRequest
		if err := decodeBody(r, &req); err != nil {
			return err
		}
		if err := b.NetworkConnect(ctx, r.PathValue("id"), req); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	})
	s.handle("POST /networks/{id}/disconnect", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		var req network.DisconnectRequest
		if err := decodeBody(r, &req); err != nil {
			return err
		}
		if err := b.NetworkDisconnect(ctx, r.PathValue("id"), req); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	})
}

// legacyMACAddress moves Config.MacAddress, where clients before API 1.44 (docker 20.10's
// --mac-address) put it, into the endpoint settings of the container's network, where it is now.
func legacyMACAddress(body []byte, req *ctypes.CreateRequest) {
	var legacy struct{ MacAddress string } // the container config is the body's top level
	if json.Unmarshal(body, &legacy) != nil || legacy.MacAddress == "" {
		return
	}
	mac, err := net.ParseMAC(legacy.MacAddress)
	if err != nil {
		return
	}
	mode := "bridge"
	if req.HostConfig != nil && req.HostConfig.NetworkMode != "" && req.HostConfig.NetworkMode != "default" {
		mode = string(req.HostConfig.NetworkMode)
	}
	if req.NetworkingConfig == nil {
		req.NetworkingConfig = &network.NetworkingConfig{}
	}
	if req.NetworkingConfig.EndpointsConfig == nil {
		req.NetworkingConfig.EndpointsConfig = map[string]*network.EndpointSettings{}
	}
	es := req.NetworkingConfig.EndpointsConfig[mode]
	if es == nil {
		es = &network.EndpointSettings{}
		req.NetworkingConfig.EndpointsConfig[mode] = es
	}
	if len(es.MacAddress) == 0 {
		es.MacAddress = network.HardwareAddr(mac)
	}
}
