package engine_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// stallingProxy forwards to a registry, but a GET of the stalled blob stops after a few bytes
// until release is called; it counts the GETs of each blob.
type stallingProxy struct {
	host    string
	stalled chan struct{} // closed once a stalled download is hanging
	mu      sync.Mutex
	gets    map[string]int
	blob    string
	open    chan struct{}
	once    sync.Once
}

func (p *stallingProxy) release() { p.once.Do(func() { close(p.open) }) }

func (p *stallingProxy) count(digest string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gets[digest]
}

func startStallingProxy(t *testing.T, registryHost, blob string) *stallingProxy {
	t.Helper()
	target, _ := url.Parse("http://" + registryHost)
	p := &stallingProxy{stalled: make(chan struct{}), gets: map[string]int{}, blob: blob, open: make(chan struct{})}
	var stalledOnce sync.Once
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.Method != http.MethodGet || !strings.Contains(resp.Request.URL.Path, "/blobs/") {
			return nil
		}
		d := resp.Request.URL.Path[strings.LastIndex(resp.Request.URL.Path, "/")+1:]
		p.mu.Lock()
		p.gets[d]++
		p.mu.Unlock()
		if d == p.blob {
			resp.Body = &stallingBody{ReadCloser: resp.Body, p: p, after: 1 << 20, onStall: func() { stalledOnce.Do(func() { close(p.stalled) }) }, ctx: resp.Request.Context().Done()}
		}
		return nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rp}
	go srv.Serve(l)
	t.Cleanup(func() { p.release(); srv.Close() })
	p.host = l.Addr().String()
	return p
}

type stallingBody struct {
	io.ReadCloser
	p       *stallingProxy
	after   int
	n       int
	onStall func()
	ctx     <-chan struct{}
}

func (b *stallingBody) Read(buf []byte) (int, error) {
	if b.n >= b.after {
		select {
		case <-b.p.open:
		default:
			b.onStall()
			select {
			case <-b.p.open:
			case <-b.ctx:
				return 0, io.ErrUnexpectedEOF
			}
		}
	}
	if rest := b.after - b.n; rest > 0 && len(buf) > rest {
		buf = buf[:rest]
	}
	n, err := b.ReadCloser.Read(buf)
	b.n += n
	return n, err
}

// TestInterruptedPull kills berthd with SIGKILL while it downloads a big layer: nothing of the
// image is visible after the restart, the layer that was complete is not fetched again, the pull
// then succeeds, and once the image is removed the data root is empty.
func TestInterruptedPull(t *testing.T) {
	reg := startRegistry(t, "")
	base := busyboxImage(t, "amd64")
	big, err := random.Layer(24<<20, types.DockerLayer)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(base, big)
	if err != nil {
		t.Fatal(err)
	}
	pushTo(t, reg.host+"/big/img:1", img)
	bigDigest, _ := big.Digest()
	baseLayers, _ := base.Layers()
	smallDigest, _ := baseLayers[0].Digest()
	proxy := startStallingProxy(t, reg.host, bigDigest.String())
	ref := proxy.host + "/big/img:1"

	d := startDaemon(t)
	pull := exec.Command(berthBin(), "-H", d.host(), "pull", ref)
	pull.Stdout, pull.Stderr = io.Discard, io.Discard
	if err := pull.Start(); err != nil {
		t.Fatal(err)
	}
	pulled := make(chan error, 1)
	go func() { pulled <- pull.Wait() }()
	smallBlob := filepath.Join(d.dataRoot, "content", "blobs", "sha256", smallDigest.Hex)
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := os.Stat(smallBlob)
		select {
		case <-proxy.stalled:
			if err == nil {
				goto stalled
			}
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pull did not reach the big layer (small blob: %v)\n%s", err, d.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
stalled:
	d.cmd.Process.Kill()
	<-d.exited
	d.exited <- nil
	if err := <-pulled; err == nil {
		t.Errorf("the pull succeeded though its daemon was killed")
	}
	if ents, _ := os.ReadDir(filepath.Join(d.dataRoot, "content", "ingest")); len(ents) == 0 {
		t.Errorf("no partial download at the kill: the test did not interrupt a transfer")
	}
	proxy.release()

	d2 := &daemon{t: t, dir: d.dir, sock: d.sock, pidfile: d.pidfile, dataRoot: d.dataRoot, log: d.log, args: d.args}
	d2.cmd = rerun(d)
	d2.start()
	if got := d2.must(berthBin(), "images", "-aq"); got != "" {
		t.Errorf("images after the interrupted pull: %q", got)
	}
	if ents, _ := os.ReadDir(filepath.Join(d.dataRoot, "content", "ingest")); len(ents) != 0 {
		t.Errorf("partial downloads left in the ingest directory: %d", len(ents))
	}
	r := d2.run(berthBin(), "pull", ref)
	if r.code != 0 || !strings.Contains(r.stdout, "Status: Downloaded newer image for "+ref) {
		t.Fatalf("pull after the restart: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if n := proxy.count(smallDigest.String()); n != 1 {
		t.Errorf("the complete layer was fetched %d times, want once", n)
	}
	if n := proxy.count(bigDigest.String()); n != 2 {
		t.Errorf("the interrupted layer was fetched %d times, want twice", n)
	}
	if out := d2.must(berthBin(), "run", "--rm", ref, "echo", "whole"); out != "whole" {
		t.Errorf("run: %q", out)
	}
	d2.must(berthBin(), "rmi", ref)
	d2.must(berthBin(), "image", "prune", "-f")
	d2.stop()
	d2.exited <- nil // stopped: let its cleanup see it gone
	checkEmptyDataRoot(t, d.dataRoot)
}
