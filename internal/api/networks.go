package api

import (
	"net/netip"

	ctypes "github.com/moby/moby/api/types/container"
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
