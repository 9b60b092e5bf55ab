package distribution

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpproxy"
)

// TransportOptions configure how the daemon reaches registries.
type TransportOptions struct {
	// CertsDir holds a directory per registry ("host:port"), as Docker's /etc/docker/certs.d:
	// *.crt are CAs trusted for it besides the system's, NAME.cert with NAME.key a client
	// certificate. Empty: none.
	CertsDir string
	// Proxies (daemon.json "proxies"); when all are empty, HTTP_PROXY, HTTPS_PROXY and NO_PROXY
	// from the environment apply.
	HTTPProxy, HTTPSProxy, NoProxy string
}

// NewTransport is the HTTP transport for registries: proxies, and TLS per registry from the
// certificates directory.
func NewTransport(o TransportOptions) http.RoundTripper {
	base := http.DefaultTransport.(*http.Transport).Clone()
	pc := httpproxy.FromEnvironment()
	if o.HTTPProxy != "" || o.HTTPSProxy != "" || o.NoProxy != "" {
		pc = &httpproxy.Config{HTTPProxy: o.HTTPProxy, HTTPSProxy: o.HTTPSProxy, NoProxy: o.NoProxy}
	}
	proxy := pc.ProxyFunc()
	base.Proxy = func(r *http.Request) (*url.URL, error) { return proxy(r.URL) }
	return &certsTransport{base: base, dir: o.CertsDir, hosts: map[string]hostTransport{}}
}

type certsTransport struct {
	base  *http.Transport
	dir   string
	mu    sync.Mutex
	hosts map[string]hostTransport
}

// hostTransport is a registry's transport, made from its certificates directory as it was at
// modTime (a change is picked up at the next request).
type hostTransport struct {
	modTime time.Time
	t       *http.Transport
}

func (c *certsTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t, err := c.forHost(req.URL.Host)
	if err != nil {
		return nil, err
	}
	return t.RoundTrip(req)
}

func (c *certsTransport) forHost(host string) (*http.Transport, error) {
	if c.dir == "" || host == "" || strings.Contains(host, "..") || strings.ContainsAny(host, `/\`) {
		return c.base, nil
	}
	dir := filepath.Join(c.dir, host)
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		return c.base, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ht, ok := c.hosts[host]; ok && ht.modTime.Equal(fi.ModTime()) {
		return ht.t, nil
	}
	cfg, err := tlsConfigFromDir(dir)
	if err != nil {
		return nil, err
	}
	t := c.base.Clone()
	t.TLSClientConfig = cfg
	c.hosts[host] = hostTransport{modTime: fi.ModTime(), t: t}
	return t, nil
}

// tlsConfigFromDir reads a registry's certificates directory as Docker does.
func tlsConfigFromDir(dir string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		name := e.Name()
		p := filepath.Join(dir, name)
		switch {
		case strings.HasSuffix(name, ".crt"):
			if cfg.RootCAs == nil {
				pool, err := x509.SystemCertPool()
				if err != nil {
					pool = x509.NewCertPool()
				}
				cfg.RootCAs = pool
			}
			pem, err := os.ReadFile(p)
			if err != nil {
				return nil, err
			}
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%s holds no PEM certificate", p)
			}
		case strings.HasSuffix(name, ".cert"):
			key := strings.TrimSuffix(p, ".cert") + ".key"
			pair, err := tls.LoadX509KeyPair(p, key)
			if errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("missing key %s for client certificate %s", filepath.Base(key), name)
			}
			if err != nil {
				return nil, fmt.Errorf("client certificate %s: %w", p, err)
			}
			cfg.Certificates = append(cfg.Certificates, pair)
		case strings.HasSuffix(name, ".key"):
			if _, err := os.Stat(strings.TrimSuffix(p, ".key") + ".cert"); err != nil {
				return nil, fmt.Errorf("missing client certificate %s for key %s", strings.TrimSuffix(name, ".key")+".cert", name)
			}
		}
	}
	return cfg, nil
}
