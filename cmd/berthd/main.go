// berthd serves the Docker Engine API on a unix socket (by default /var/run/berth.sock, mode
// 0660, group berth), so the docker CLI, compose and the Docker SDKs work against berth. It takes
// dockerd's flags.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"

	"github.com/berthproject/berth/internal/api"
	"github.com/berthproject/berth/internal/daemon"
	"github.com/berthproject/berth/internal/version"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"
)

func main() {
	if err := command().Execute(); err != nil {
		fmt.Fprintf(os.Stderr, "berthd: %v\n", err)
		os.Exit(1)
	}
}

func command() *cobra.Command {
	cfg := daemon.Defaults()
	var configFile string
	cmd := &cobra.Command{
		Use:           "berthd [flags]",
		Short:         "berth's daemon: the Docker Engine API on a unix socket",
		Version:       version.Version,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			// daemon.json fills what no flag set; a key given both ways is an error, as in dockerd.
			flagged := map[string]string{}
			cmd.Flags().Visit(func(f *pflag.Flag) {
				name := f.Name
				switch name {
				case "host":
					name = "hosts"
				case "http-proxy", "https-proxy", "no-proxy":
					name = "proxies"
				case "log-opt":
					name = "log-opts"
				}
				flagged[name] = f.Value.String()
			})
			if err := cfg.MergeFile(configFile, cmd.Flags().Changed("config-file"), flagged); err != nil {
				return err
			}
			if cfg.Debug {
				cfg.LogLevel = "debug"
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			return run(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringSliceVarP(&cfg.Hosts, "host", "H", cfg.Hosts, "daemon socket(s) to listen on: unix://PATH, fd://, tcp://HOST:PORT (with --tlsverify)")
	f.StringVar(&cfg.DataRoot, "data-root", cfg.DataRoot, "root directory of persistent state")
	f.StringVar(&cfg.ExecRoot, "exec-root", cfg.ExecRoot, "root directory of execution state")
	f.StringVarP(&cfg.Pidfile, "pidfile", "p", cfg.Pidfile, "path to the daemon's pid file")
	f.StringVarP(&cfg.Group, "group", "G", cfg.Group, "group owning the unix socket")
	f.StringVarP(&cfg.Bridge, "bridge", "b", cfg.Bridge, "attach containers to this bridge")
	f.StringVar(&cfg.BIP, "bip", cfg.BIP, "address and prefix of the default bridge")
	f.StringVar(&cfg.FirewallBackend, "firewall-backend", cfg.FirewallBackend, "nftables or iptables (default: nftables when the kernel has it)")
	f.StringVar(&cfg.DefaultRuntime, "default-runtime", cfg.DefaultRuntime, "OCI runtime for containers")
	f.StringVarP(&cfg.LogLevel, "log-level", "l", cfg.LogLevel, "logging level: debug, info, warn, error, fatal")
	f.StringVar(&cfg.LogDriver, "log-driver", cfg.LogDriver, "default log driver of containers: json-file or none")
	f.StringToStringVar(&cfg.LogOpts, "log-opt", nil, "default log driver options (max-size=10m, max-file=3)")
	f.BoolVarP(&cfg.Debug, "debug", "D", cfg.Debug, "debug logging")
	f.BoolVar(&cfg.LiveRestore, "live-restore", cfg.LiveRestore, "keep containers running while the daemon is down")
	f.BoolVar(&cfg.TLS, "tls", cfg.TLS, "use TLS (implied by --tlsverify)")
	f.BoolVar(&cfg.TLSVerify, "tlsverify", cfg.TLSVerify, "use TLS and verify clients")
	f.StringVar(&cfg.TLSCACert, "tlscacert", "", "trust certificates signed by this CA")
	f.StringVar(&cfg.TLSCert, "tlscert", "", "TLS certificate file")
	f.StringVar(&cfg.TLSKey, "tlskey", "", "TLS key file")
	f.StringSliceVar(&cfg.InsecureRegistries, "insecure-registry", nil, "registry reached over plain HTTP or unverified TLS (host:port or CIDR)")
	f.StringSliceVar(&cfg.RegistryMirrors, "registry-mirror", nil, "preferred Docker Hub mirror")
	f.StringVar(&cfg.Proxies.HTTPProxy, "http-proxy", "", "HTTP proxy for registry traffic")
	f.StringVar(&cfg.Proxies.HTTPSProxy, "https-proxy", "", "HTTPS proxy for registry traffic")
	f.StringVar(&cfg.Proxies.NoProxy, "no-proxy", "", "hosts reached without a proxy (comma-separated)")
	f.StringVar(&cfg.RegistryCertsDir, "registry-certs-dir", cfg.RegistryCertsDir, "a directory per registry (host:port) with its CA (*.crt) and client certificates (*.cert, *.key)")
	f.StringVar(&configFile, "config-file", "/etc/berth/daemon.json", "daemon configuration file")
	return cmd
}

func logger(level string) *slog.Logger {
	var l slog.Level
	switch level {
	case "debug":
		l = slog.LevelDebug
	case "warn":
		l = slog.LevelWarn
	case "error", "fatal":
		l = slog.LevelError
	default:
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

func run(ctx context.Context, cfg *daemon.Config) error {
	log := logger(cfg.LogLevel)
	if os.Geteuid() != 0 {
		return errors.New("berthd needs to be started as root (rootless mode is not supported yet)")
	}
	release, err := writePidfile(cfg.Pidfile)
	if err != nil {
		return err
	}
	defer release()
	ctx, stop := signal.NotifyContext(ctx, unix.SIGINT, unix.SIGTERM)
	defer stop()
	d, err := daemon.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	srv := api.New(log, d)
	listeners, err := listen(cfg, log)
	if err != nil {
		return err
	}
	errc := make(chan error, len(listeners))
	servers := serve(srv, listeners, errc)
	log.Info("berthd started", "version", version.Version, "api", version.APIVersion, "hosts", strings.Join(cfg.Hosts, ","), "data-root", cfg.DataRoot)
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err = <-errc:
	}
	for _, s := range servers {
		s.Close()
	}
	for _, l := range listeners {
		l.cleanup()
	}
	return err
}
