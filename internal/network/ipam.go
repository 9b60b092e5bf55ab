package network

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
)

// IPAM hands out the addresses of one subnet: never the network address, the gateway or the
// broadcast address; the lowest free one first, as Docker's default allocator does after a restart.
type IPAM struct {
	mu      sync.Mutex
	subnet  netip.Prefix
	pool    netip.Prefix // where dynamic addresses come from (--ip-range), within subnet
	gateway netip.Addr
	used    map[netip.Addr]string // address -> holder (a container id)
}

// NewIPAM allocates in subnet (IPv4, or IPv6 for an --ipv6 network); gateway is reserved.
// Dynamic addresses come from pool when it is valid (it must lie within subnet), else from the
// whole subnet.
func NewIPAM(subnet, pool netip.Prefix, gateway netip.Addr) (*IPAM, error) {
	if subnet.Addr().Is4() && subnet.Bits() > 30 {
		return nil, fmt.Errorf("subnet %s: an IPv4 subnet of at least 4 addresses is needed", subnet)
	}
	if subnet.Addr().Is6() && subnet.Bits() > 126 {
		return nil, fmt.Errorf("subnet %s: an IPv6 subnet of at least 4 addresses is needed", subnet)
	}
	subnet = subnet.Masked()
	if !pool.IsValid() {
		pool = subnet
	}
	pool = pool.Masked()
	if !subnet.Contains(pool.Addr()) || pool.Bits() < subnet.Bits() {
		return nil, fmt.Errorf("ip range %s is not within subnet %s", pool, subnet)
	}
	return &IPAM{subnet: subnet, pool: pool, gateway: gateway, used: map[netip.Addr]string{}}, nil
}

// ErrExhausted: no address left in the subnet.
var ErrExhausted = errors.New("no available IP address in the network's subnet")

// Allocate reserves want (if valid) or the lowest free address for holder.
func (a *IPAM) Allocate(holder string, want netip.Addr) (netip.Addr, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if want.IsValid() {
		if !a.usable(want) {
			return netip.Addr{}, fmt.Errorf("address %s is not usable in subnet %s", want, a.subnet)
		}
		if h, ok := a.used[want]; ok && h != holder {
			return netip.Addr{}, fmt.Errorf("address %s is already in use", want)
		}
		a.used[want] = holder
		return want, nil
	}
	for ip := a.pool.Addr(); a.pool.Contains(ip); ip = ip.Next() {
		if a.usable(ip) {
			if _, ok := a.used[ip]; !ok {
				a.used[ip] = holder
				return ip, nil
			}
		}
	}
	return netip.Addr{}, ErrExhausted
}

func (a *IPAM) usable(ip netip.Addr) bool {
	if !a.subnet.Contains(ip) || ip == a.subnet.Addr() || ip == a.gateway {
		return false
	}
	if ip.Is6() {
		return true // IPv6 has no broadcast address
	}
	b := ip.As4()
	last := a.subnet.Addr().As4()
	for i := a.subnet.Bits(); i < 32; i++ {
		last[i/8] |= 1 << (7 - i%8)
	}
	return b != last
}

// Release frees ip if holder holds it.
func (a *IPAM) Release(holder string, ip netip.Addr) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.used[ip] == holder {
		delete(a.used, ip)
	}
}
