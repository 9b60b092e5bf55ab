package network

import (
	"bufio"
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// DNSAddr is where a container on a user-defined network finds the embedded DNS server, as
// under Docker.
const DNSAddr = "127.0.0.11"

// Lookup answers a name for one container: the addresses of the containers it can reach by that
// name (ok false: not a container name, ask the upstream resolvers).
type Lookup func(name string) (addrs []netip.Addr, ok bool)

// DNSServer is an embedded DNS server listening inside one container's network namespace. Its
// sockets are made in that namespace; forwarding happens from the daemon's, so a host resolver
// on loopback (systemd-resolved's 127.0.0.53) works.
type DNSServer struct {
	servers []*dns.Server
}

// StartDNS serves DNSAddr:53 (UDP and TCP) in the namespace pinned at nsPath.
func StartDNS(nsPath string, lookup Lookup, upstream []string) (*DNSServer, error) {
	pc, l, err := listenIn(nsPath)
	if err != nil {
		return nil, err
	}
	h := &dnsHandler{lookup: lookup, upstream: upstream}
	s := &DNSServer{servers: []*dns.Server{
		{PacketConn: pc, Handler: h},
		{Listener: l, Handler: h},
	}}
	for _, srv := range s.servers {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
	}
	return s, nil
}

// Stop closes the server's sockets.
func (s *DNSServer) Stop() {
	for _, srv := range s.servers {
		srv.Shutdown()
	}
}

// listenIn opens the UDP and TCP sockets on a thread switched into the namespace at nsPath.
func listenIn(nsPath string) (net.PacketConn, net.Listener, error) {
	type res struct {
		pc  net.PacketConn
		l   net.Listener
		err error
	}
	ch := make(chan res, 1)
	go func() {
		// This goroutine's thread is never unlocked: if it cannot return to the daemon's
		// namespace, Go retires the thread with the goroutine.
		runtime.LockOSThread()
		var r res
		defer func() { ch <- r }()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			r.err = err
			return
		}
		defer orig.Close()
		target, err := os.Open(nsPath)
		if err != nil {
			r.err = err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			r.err = err
			return
		}
		r.pc, r.err = net.ListenPacket("udp4", DNSAddr+":53")
		if r.err == nil {
			r.l, r.err = net.Listen("tcp4", DNSAddr+":53")
		}
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			r.err = errors.Join(r.err, err)
			return
		}
		runtime.UnlockOSThread()
	}()
	r := <-ch
	if r.err != nil {
		if r.pc != nil {
			r.pc.Close()
		}
		if r.l != nil {
			r.l.Close()
		}
		return nil, nil, r.err
	}
	return r.pc, r.l, nil
}

type dnsHandler struct {
	lookup   Lookup
	upstream []string
}

func (h *dnsHandler) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	if len(req.Question) == 1 {
		q := req.Question[0]
		name := strings.ToLower(strings.TrimSuffix(q.Name, "."))
		if q.Qclass == dns.ClassINET && (q.Qtype == dns.TypeA || q.Qtype == dns.TypeAAAA) && !strings.Contains(name, ".") {
			if addrs, ok := h.lookup(name); ok {
				m := new(dns.Msg)
				m.SetReply(req)
				m.Authoritative, m.RecursionAvailable = true, true
				for _, a := range addrs {
					hdr := dns.RR_Header{Name: q.Name, Rrtype: q.Qtype, Class: dns.ClassINET, Ttl: 600}
					switch {
					case q.Qtype == dns.TypeA && a.Is4():
						m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: a.AsSlice()})
					case q.Qtype == dns.TypeAAAA && a.Is6():
						m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: a.AsSlice()})
					}
				}
				w.WriteMsg(m)
				return
			}
		}
	}
	network := "udp"
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		network = "tcp"
	}
	c := &dns.Client{Net: network, Timeout: 5 * time.Second}
	for _, up := range h.upstream {
		resp, _, err := c.Exchange(req, net.JoinHostPort(up, "53"))
		if err == nil {
			w.WriteMsg(resp)
			return
		}
	}
	m := new(dns.Msg)
	m.SetRcode(req, dns.RcodeServerFailure)
	w.WriteMsg(m)
}

// HostResolvers are the nameservers of the host's resolv.conf, loopback ones included.
func HostResolvers(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) >= 2 && fs[0] == "nameserver" {
			if _, err := netip.ParseAddr(fs[1]); err == nil {
				out = append(out, fs[1])
			}
		}
	}
	return out
}
