package daemon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Runtime is an OCI runtime the daemon can run containers with (daemon.json "runtimes").
type Runtime struct {
	Path        string   `json:"path"`
	RuntimeArgs []string `json:"runtimeArgs,omitempty"`
}

// isBerths says whether this is berth's own runtime, which takes berth's extensions
// (run --proceed-fd).
func (r Runtime) isBerths() bool { return filepath.Base(r.Path) == "berth-runtime" }

// Config is berthd's configuration: dockerd's flags and daemon.json keys, same names.
type Config struct {
	Hosts          []string           `json:"hosts,omitempty"`
	DataRoot       string             `json:"data-root,omitempty"`
	ExecRoot       string             `json:"exec-root,omitempty"`
	Pidfile        string             `json:"pidfile,omitempty"`
	Group          string             `json:"group,omitempty"`
	Bridge         string             `json:"bridge,omitempty"`
	BIP            string             `json:"bip,omitempty"`
	DefaultRuntime string             `json:"default-runtime,omitempty"`
	Runtimes       map[string]Runtime `json:"runtimes,omitempty"`
	LogLevel       string             `json:"log-level,omitempty"`
	// LogDriver and LogOpts are the containers' default log driver and its options (dockerd's
	// log-driver and log-opts: a container that names no driver gets both).
	LogDriver   string            `json:"log-driver,omitempty"`
	LogOpts     map[string]string `json:"log-opts,omitempty"`
	Debug       bool              `json:"debug,omitempty"`
	LiveRestore bool              `json:"live-restore,omitempty"`
	TLS         bool              `json:"tls,omitempty"`
	TLSVerify   bool              `json:"tlsverify,omitempty"`
	TLSCACert   string            `json:"tlscacert,omitempty"`
	TLSCert     string            `json:"tlscert,omitempty"`
	TLSKey      string            `json:"tlskey,omitempty"`

	// FirewallBackend is dockerd 28's option: "nftables", "iptables", or "" (nftables when the
	// kernel has it, else iptables).
	FirewallBackend    string   `json:"firewall-backend,omitempty"`
	InsecureRegistries []string `json:"insecure-registries,omitempty"` // besides 127.0.0.0/8
	RegistryMirrors    []string `json:"registry-mirrors,omitempty"`
	Proxies            Proxies  `json:"proxies,omitempty"`
	// RegistryCertsDir is Docker's /etc/docker/certs.d for berth: <dir>/<host:port>/ca.crt...
	// A berthd flag only (dockerd has no such setting).
	RegistryCertsDir string `json:"-"`
}

// Proxies are daemon.json's "proxies" (and --http-proxy, --https-proxy, --no-proxy): what the
// daemon's registry traffic goes through, instead of HTTP_PROXY, HTTPS_PROXY and NO_PROXY.
type Proxies struct {
	HTTPProxy  string `json:"http-proxy,omitempty"`
	HTTPSProxy string `json:"https-proxy,omitempty"`
	NoProxy    string `json:"no-proxy,omitempty"`
}

// Defaults are dockerd's, with berth's paths.
func Defaults() *Config {
	return &Config{
		Hosts:          []string{"unix:///var/run/berth.sock"},
		DataRoot:       "/var/lib/berth",
		ExecRoot:       "/var/run/berth",
		Pidfile:        "/var/run/berthd.pid",
		Group:          "berth",
		Bridge:         "",
		DefaultRuntime: "berth-runtime",
		LogLevel:       "info",
		LogDriver:      "json-file",
		LiveRestore:    true,

		RegistryCertsDir: "/etc/berth/certs.d",
	}
}

// MergeFile reads daemon.json at path into c. Keys also given as flags (flagged, by daemon.json
// name) are refused, as dockerd refuses them; unknown keys are refused too. A missing file is fine
// unless required.
func (c *Config) MergeFile(path string, required bool, flagged map[string]string) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && !required {
		return nil
	}
	if err != nil {
		return fmt.Errorf("unable to configure the daemon: %w", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil // an empty file configures nothing, as with dockerd
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("unable to configure the daemon with file %s: %w", path, err)
	}
	known := map[string]bool{}
	for _, k := range jsonKeys() {
		known[k] = true
	}
	var unknown, both []string
	for k, v := range raw {
		if !known[k] {
			unknown = append(unknown, k)
		}
		if fv, ok := flagged[k]; ok {
			both = append(both, fmt.Sprintf("%s: (from flag: %s, from file: %s)", k, fv, strings.Trim(string(v), `"`)))
		}
	}
	sort.Strings(unknown)
	sort.Strings(both)
	if len(unknown) > 0 {
		return fmt.Errorf("unable to configure the daemon with file %s: the following directives don't match any configuration option: %s", path, strings.Join(unknown, ", "))
	}
	if len(both) > 0 {
		return fmt.Errorf("unable to configure the daemon with file %s: the following directives are specified both as a flag and in the configuration file: %s", path, strings.Join(both, ", "))
	}
	fileCfg := *c
	if err := json.Unmarshal(b, &fileCfg); err != nil {
		return fmt.Errorf("unable to configure the daemon with file %s: %w", path, err)
	}
	*c = fileCfg
	return nil
}

func jsonKeys() []string {
	return []string{"hosts", "data-root", "exec-root", "pidfile", "group", "bridge", "bip", "firewall-backend", "default-runtime",
		"runtimes", "log-level", "log-driver", "log-opts", "debug", "live-restore", "tls", "tlsverify", "tlscacert", "tlscert", "tlskey",
		"insecure-registries", "registry-mirrors", "proxies"}
}

// Validate checks values that flags and files cannot check on their own.
func (c *Config) Validate() error {
	switch c.LogLevel {
	case "debug", "info", "warn", "error", "fatal":
	default:
		return fmt.Errorf("unable to parse logging level: %s", c.LogLevel)
	}
	if len(c.Hosts) == 0 {
		return errors.New("no host to listen on (-H)")
	}
	if err := validateLogConfig(c.LogDriver, c.LogOpts); err != nil {
		return fmt.Errorf("unable to configure the daemon's default log driver: %w", err)
	}
	switch c.FirewallBackend {
	case "", "nftables", "iptables":
	default:
		return fmt.Errorf("invalid firewall-backend %q: nftables or iptables", c.FirewallBackend)
	}
	for _, h := range c.Hosts {
		if err := validateHost(h, c.TLSVerify); err != nil {
			return err
		}
	}
	return nil
}

func validateHost(h string, tlsVerify bool) error {
	proto, addr, ok := strings.Cut(h, "://")
	if !ok {
		return fmt.Errorf("invalid host %q: want unix://PATH, fd:// or tcp://HOST:PORT", h)
	}
	switch proto {
	case "unix":
		if addr == "" || !strings.HasPrefix(addr, "/") {
			return fmt.Errorf("invalid host %q: the unix socket path must be absolute", h)
		}
	case "fd":
	case "tcp":
		if !tlsVerify {
			return fmt.Errorf("refusing to listen on %s without --tlsverify: anyone who can reach it would be root on this host (give --tlsverify --tlscacert --tlscert --tlskey)", h)
		}
	default:
		return fmt.Errorf("invalid host %q: unsupported protocol %q", h, proto)
	}
	return nil
}
