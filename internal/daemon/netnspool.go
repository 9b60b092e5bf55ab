package daemon

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/berthproject/berth/internal/container"
	"github.com/berthproject/berth/internal/network"
)

// The network namespace of the next container on the default bridge is made ahead of need, with
// its veth pair: the host end down and on no bridge yet, the peer named eth0 inside, down and
// without an address. A namespace and a veth pair cost milliseconds of kernel time on the path of every
// start, the longest part of it once the runtime too is started ahead of need; a container
// given a ready one only has its address, MAC and routes set. One waits at a time, pinned at
// exec-root/netns/.warm-<host veth>: a daemon that dies leaves it, and the next removes it.

const warmPrefix = ".warm-"

// warmNetns is a network namespace made ahead of need.
type warmNetns struct {
	path     string // where it is pinned
	hostVeth string // the host end of its veth pair, for bridge
	bridge   string
}

// remove deletes the pair (at once: the kernel would only do it with the namespace, later) and
// the namespace.
func (w *warmNetns) remove() {
	network.DeleteLink(w.hostVeth)
	network.RemoveNamespace(w.path)
}

// netnsPool holds the namespace made ahead of need for the default bridge.
type netnsPool struct {
	dir     string // exec-root/netns
	bridge  string // the default bridge's device
	mu      sync.Mutex
	ready   *warmNetns
	filling chan struct{} // while one is being made; closed when it is
	closed  bool
}

// sweepWarmNetns removes the namespaces a previous daemon made ahead of need in dir, with their
// pairs unless inUse says a container's endpoint has the pair (a pin left by a move that did not
// finish: the container keeps its interface).
func sweepWarmNetns(dir string, inUse func(hostVeth string) bool) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		veth, ok := strings.CutPrefix(e.Name(), warmPrefix)
		if !ok {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if inUse(veth) {
			network.RemoveNamespace(path)
		} else {
			(&warmNetns{path: path, hostVeth: veth}).remove()
		}
	}
}

// take returns the waiting namespace, nil if there is none. One being made is not waited for:
// it is made at idle priority, which a start under way would keep from finishing.
func (p *netnsPool) take() *warmNetns {
	p.mu.Lock()
	w := p.ready
	p.ready = nil
	p.mu.Unlock()
	return w
}

// refill makes a namespace to wait, unless one waits or is being made. A failure is not
// reported: the next start makes its own namespace, and says why if that fails too.
func (p *netnsPool) refill() {
	p.mu.Lock()
	if p.closed || p.ready != nil || p.filling != nil {
		p.mu.Unlock()
		return
	}
	filling := make(chan struct{})
	p.filling = filling
	p.mu.Unlock()
	w, err := p.make()
	p.mu.Lock()
	keep := err == nil && !p.closed
	if keep {
		p.ready = w
	}
	p.filling = nil
	close(filling)
	p.mu.Unlock()
	if err == nil && !keep {
		w.remove()
	}
}

func (p *netnsPool) make() (*warmNetns, error) {
	b := make([]byte, 6)
	rand.Read(b)
	veth := "veth" + hex.EncodeToString(b)[:11] // IFNAMSIZ: 15 characters
	w := &warmNetns{path: filepath.Join(p.dir, warmPrefix+veth), hostVeth: veth, bridge: p.bridge}
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return nil, err
	}
	if err := network.NewNamespace(w.path); err != nil {
		return nil, err
	}
	if err := network.PrepareVeth(w.path, veth, firstIfName); err != nil {
		network.RemoveNamespace(w.path)
		return nil, err
	}
	return w, nil
}

// close removes the waiting namespace, after the one being made if any.
func (p *netnsPool) close() {
	p.mu.Lock()
	p.closed = true
	filling := p.filling
	p.mu.Unlock()
	if filling != nil {
		<-filling
	}
	p.mu.Lock()
	w := p.ready
	p.ready = nil
	p.mu.Unlock()
	if w != nil {
		w.remove()
	}
}

// hostVethInUse: a container's endpoint has the host veth name.
func (d *Daemon) hostVethInUse(name string) bool {
	d.net.mu.Lock()
	defer d.net.mu.Unlock()
	for _, eps := range d.net.eps {
		for _, ep := range eps {
			if ep.HostVeth == name {
				return true
			}
		}
	}
	return false
}

// takeWarmNetns gives c the namespace made ahead of need when c is to be on the default bridge
// alone (its only interface is then the pair's peer, eth0), else nil.
func (d *Daemon) takeWarmNetns(c *container.Container) *warmNetns {
	if d.warmNets == nil || !onNetwork(c.HostConfig) {
		return nil
	}
	nets := d.containerNetworks(c)
	if len(nets) != 1 {
		return nil
	}
	for name := range nets {
		d.net.mu.Lock()
		bn, err := d.net.byName(name)
		d.net.mu.Unlock()
		if err != nil || !bn.def.Default || bn.def.Device != d.warmNets.bridge {
			return nil
		}
	}
	return d.warmNets.take()
}
