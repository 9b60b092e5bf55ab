package network

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Reservation holds a published host port open in the daemon, as docker-proxy's listening
// socket does, but without carrying the traffic: the kernel's DNAT takes connections before they
// reach it. It keeps other processes (and other containers) off the port and lets the kernel pick
// a free random one. The one exception is IPv6 loopback, which the kernel cannot forward to a
// bridge: a TCP reservation on [::] or [::1] forwards the connections it receives to the
// container.
type Reservation struct {
	closer io.Closer
	wg     sync.WaitGroup
}

// ErrPortAllocated is Docker's error for a host port already taken.
type ErrPortAllocated struct {
	HostIP netip.Addr
	Port   uint16
}

func (e *ErrPortAllocated) Error() string {
	return fmt.Sprintf("Bind for %s failed: port is already allocated", net.JoinHostPort(e.HostIP.String(), strconv.Itoa(int(e.Port))))
}

// BindAddr is the address a rule's reservation binds: its host address, or the unspecified one
// of its family.
func (r PortRule) BindAddr() netip.Addr {
	if r.HostIP.IsValid() {
		return r.HostIP
	}
	if r.v6() {
		return netip.IPv6Unspecified()
	}
	return netip.IPv4Unspecified()
}

// Reserve binds r's host port (0: one the kernel picks) and returns the reservation and the port.
// An SCTP port is not reserved (nil reservation).
func Reserve(r PortRule) (*Reservation, uint16, error) {
	ip := r.BindAddr()
	network := "4"
	if ip.Is6() {
		network = "6" // Go sets IPV6_V6ONLY: [::] leaves 0.0.0.0 to the IPv4 reservation
	}
	addr := net.JoinHostPort(ip.String(), strconv.Itoa(int(r.HostPort)))
	res := &Reservation{}
	var port int
	var err error
	switch r.Proto {
	case "udp":
		var pc net.PacketConn
		if pc, err = net.ListenPacket("udp"+network, addr); err == nil {
			res.closer, port = pc, pc.LocalAddr().(*net.UDPAddr).Port
		}
	case "tcp", "":
		var l net.Listener
		if l, err = net.Listen("tcp"+network, addr); err == nil {
			res.closer, port = l, l.Addr().(*net.TCPAddr).Port
			if ip.Is6() && (ip.IsUnspecified() || ip.IsLoopback()) && r.v6() {
				res.wg.Add(1)
				go res.forward(l, netip.AddrPortFrom(r.ContainerIP, r.ContainerPort))
			}
		}
	default:
		return nil, r.HostPort, nil
	}
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, 0, &ErrPortAllocated{HostIP: ip, Port: r.HostPort}
	}
	if err != nil {
		return nil, 0, err
	}
	return res, uint16(port), nil
}

// forward carries each connection the listener gets to the container (IPv6 loopback only).
func (res *Reservation) forward(l net.Listener, to netip.AddrPort) {
	defer res.wg.Done()
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			up, err := net.DialTimeout("tcp", to.String(), 10*time.Second)
			if err != nil {
				return
			}
			defer up.Close()
			done := make(chan struct{})
			go func() {
				io.Copy(up, c) // splice(2) between the two TCP sockets
				up.(*net.TCPConn).CloseWrite()
				close(done)
			}()
			io.Copy(c, up)
			c.(*net.TCPConn).CloseWrite()
			<-done
		}()
	}
}

// Release frees the port. Connections being forwarded finish on their own.
func (res *Reservation) Release() {
	if res == nil || res.closer == nil {
		return
	}
	res.closer.Close()
	res.wg.Wait()
}
