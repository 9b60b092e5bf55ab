package engine_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"testing"
)

// recordingProxy is a forward HTTP proxy on 127.0.0.1 that sends every request to one registry
// (whatever host it names) and records "HOST PATH" of each.
type recordingProxy struct {
	url  string
	mu   sync.Mutex
	seen []string
}

func (p *recordingProxy) requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.seen...)
}

func startRecordingProxy(t *testing.T, registryHost string) *recordingProxy {
	t.Helper()
	p := &recordingProxy{}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.Out.URL.Scheme, r.Out.URL.Host = "http", registryHost
	}}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.seen = append(p.seen, r.Host+" "+r.URL.Path)
		p.mu.Unlock()
		if r.Method == http.MethodConnect || !r.URL.IsAbs() {
			http.Error(w, "this proxy forwards plain HTTP only", http.StatusBadGateway)
			return
		}
		rp.ServeHTTP(w, r)
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: handler}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	p.url = "http://" + l.Addr().String()
	return p
}

// TestPullThroughProxy: pulls go through HTTP_PROXY from the daemon's environment, and through
// daemon.json's proxies instead when set (no-proxy honoured). The registry is named by a host
// that does not resolve, so only the proxy (which sends everything to the test's registry) can
// reach it.
func TestPullThroughProxy(t *testing.T) {
	reg := startRegistry(t, "")
	const host = "registry.proxytest:5000"
	pushTo(t, reg.host+"/proxied/img:1", busyboxImage(t, "amd64"))
	proxy := startRecordingProxy(t, reg.host)
	ref := host + "/proxied/img:1"
	pulledThrough := func(t *testing.T, before int) {
		t.Helper()
		for _, r := range proxy.requests()[before:] {
			if r == host+" /v2/proxied/img/manifests/1" {
				return
			}
		}
		t.Errorf("the proxy did not see the manifest request: %q", proxy.requests()[before:])
	}

	t.Run("env", func(t *testing.T) {
		// HTTPS too (refused by the proxy, then plain HTTP): no lookup of the made-up name leaves.
		d := startDaemonWith(t, []string{"HTTP_PROXY=" + proxy.url, "HTTPS_PROXY=" + proxy.url, "NO_PROXY="}, "{}", "--insecure-registry", host)
		before := len(proxy.requests())
		d.must(berthBin(), "pull", "-q", ref)
		pulledThrough(t, before)
		if out := d.must(berthBin(), "run", "--rm", ref, "echo", "proxied"); out != "proxied" {
			t.Errorf("run: %q", out)
		}
	})
	t.Run("daemon.json", func(t *testing.T) {
		// The environment's proxy is dead: daemon.json's replaces it. The no-proxy host is the
		// daemon's own bridge address, where nothing listens: reached directly, it refuses.
		br, bip := testBridge()
		t.Cleanup(func() { removeBridge(br) })
		gw, _, _ := net.ParseCIDR(bip)
		skipped := gw.String() + ":5000"
		cfg := fmt.Sprintf(`{"proxies": {"http-proxy": %q, "https-proxy": %q, "no-proxy": %q}}`, proxy.url, proxy.url, gw.String())
		d := startDaemonWith(t, []string{"HTTP_PROXY=http://127.0.0.1:1"}, cfg, "-b", br, "--bip", bip,
			"--insecure-registry", host, "--insecure-registry", skipped)
		for _, cli := range clients() {
			before := len(proxy.requests())
			d.t = t
			d.must(cli, "pull", "-q", ref)
			pulledThrough(t, before)
			d.must(cli, "rmi", ref)
		}
		before := len(proxy.requests())
		r := d.run(berthBin(), "pull", skipped+"/proxied/img:1")
		if r.code != 1 || len(proxy.requests()) != before {
			t.Errorf("pull of a no-proxy host: exit %d, %d proxy requests\n%s%s", r.code, len(proxy.requests())-before, r.stdout, r.stderr)
		}
		if strings.Contains(r.stderr, "127.0.0.1:1") {
			t.Errorf("the environment's proxy was used: %s", r.stderr)
		}
	})
}
