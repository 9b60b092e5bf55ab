package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/berthproject/berth/internal/atomicfile"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/berthproject/berth/internal/daemon"
	"golang.org/x/sys/unix"
)

type listener struct {
	net.Listener
	cleanup func()
}

// listen opens every -H address: unix sockets (mode 0660, owned by the daemon's group), systemd's
// sockets (fd://), and TLS-verified tcp.
func listen(cfg *daemon.Config, log *slog.Logger) ([]listener, error) {
	var out []listener
	fail := func(err error) ([]listener, error) {
		for _, l := range out {
			l.Close()
			l.cleanup()
		}
		return nil, err
	}
	for _, h := range cfg.Hosts {
		proto, addr, _ := strings.Cut(h, "://")
		switch proto {
		case "unix":
			l, err := listenUnix(addr, cfg.Group, log)
			if err != nil {
				return fail(err)
			}
			out = append(out, l)
		case "fd":
			ls, err := systemdListeners()
			if err != nil {
				return fail(err)
			}
			out = append(out, ls...)
		case "tcp":
			l, err := listenTLS(addr, cfg)
			if err != nil {
				return fail(err)
			}
			out = append(out, l)
		}
	}
	return out, nil
}

func listenUnix(path, group string, log *slog.Logger) (listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return listener{}, err
	}
	// A socket left by a daemon that died is removed; a live one means another daemon.
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return listener{}, fmt.Errorf("another daemon is already serving %s", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return listener{}, err
	}
	old := unix.Umask(0o177) // the socket is born 0600, never briefly world-connectable
	l, err := net.Listen("unix", path)
	unix.Umask(old)
	if err != nil {
		return listener{}, fmt.Errorf("listen on %s: %w", path, err)
	}
	cleanup := func() { os.Remove(path) }
	gid := -1
	if group != "" {
		if g, err := user.LookupGroup(group); err == nil {
			gid, _ = strconv.Atoi(g.Gid)
		} else {
			log.Warn("group not found: the socket is accessible to root only; create it to give users access",
				"group", group, "socket", path, "hint", "groupadd "+group+" && usermod -aG "+group+" $USER")
		}
	}
	if gid >= 0 {
		if err := os.Chown(path, 0, gid); err != nil {
			l.Close()
			cleanup()
			return listener{}, err
		}
		if err := os.Chmod(path, 0o660); err != nil {
			l.Close()
			cleanup()
			return listener{}, err
		}
	}
	return listener{Listener: l, cleanup: cleanup}, nil
}

// systemdListeners takes the sockets systemd passes with socket activation (LISTEN_FDS).
func systemdListeners() ([]listener, error) {
	if os.Getenv("LISTEN_PID") != strconv.Itoa(os.Getpid()) {
		return nil, errors.New("fd:// given but no sockets were passed by systemd (LISTEN_PID does not match)")
	}
	n, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if err != nil || n < 1 {
		return nil, errors.New("fd:// given but LISTEN_FDS holds no sockets")
	}
	var out []listener
	for fd := 3; fd < 3+n; fd++ {
		unix.CloseOnExec(fd)
		f := os.NewFile(uintptr(fd), "systemd-socket-"+strconv.Itoa(fd))
		l, err := net.FileListener(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("socket %d from systemd: %w", fd, err)
		}
		out = append(out, listener{Listener: l, cleanup: func() {}})
	}
	return out, nil
}

func listenTLS(addr string, cfg *daemon.Config) (listener, error) {
	if cfg.TLSCACert == "" || cfg.TLSCert == "" || cfg.TLSKey == "" {
		return listener{}, errors.New("--tlsverify needs --tlscacert, --tlscert and --tlskey")
	}
	cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return listener{}, fmt.Errorf("load TLS key pair: %w", err)
	}
	ca, err := os.ReadFile(cfg.TLSCACert)
	if err != nil {
		return listener{}, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return listener{}, fmt.Errorf("no certificate in %s", cfg.TLSCACert)
	}
	l, err := tls.Listen("tcp", addr, &tls.Config{
		Certificates: []tls.Certificate{cert}, ClientCAs: pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12,
	})
	if err != nil {
		return listener{}, err
	}
	return listener{Listener: l, cleanup: func() {}}, nil
}

func serve(h http.Handler, ls []listener, errc chan<- error) []*http.Server {
	var servers []*http.Server
	for _, l := range ls {
		s := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}
		servers = append(servers, s)
		go func(l listener) {
			if err := s.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}(l)
	}
	return servers
}

// writePidfile claims the pid file: refused while the pid in it is alive, written atomically.
func writePidfile(path string) (func(), error) {
	if b, err := os.ReadFile(path); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid != os.Getpid() && unix.Kill(pid, 0) == nil {
			if comm, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm"); strings.TrimSpace(string(comm)) == "berthd" {
				return nil, fmt.Errorf("pid file found, ensure berthd is not running or delete %s", path)
			}
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return nil, err
	}
	return func() { os.Remove(path) }, nil
}
