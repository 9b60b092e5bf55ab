// Package daemon orchestrates berth's engine: it owns the data and exec roots, the configured
// runtimes, and answers the API's backends.
package daemon

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berthproject/berth/internal/archive"
	"github.com/berthproject/berth/internal/atomicfile"
	"github.com/berthproject/berth/internal/build"
	"github.com/berthproject/berth/internal/container"
	"github.com/berthproject/berth/internal/content"
	"github.com/berthproject/berth/internal/distribution"
	"github.com/berthproject/berth/internal/events"
	"github.com/berthproject/berth/internal/filters"
	"github.com/berthproject/berth/internal/image"
	"github.com/berthproject/berth/internal/runtime/cgroup"
	"github.com/berthproject/berth/internal/snapshot"
	"github.com/berthproject/berth/internal/trash"
	"github.com/berthproject/berth/internal/version"
	"github.com/berthproject/berth/internal/volume"
	imagetypes "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/system"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// Daemon is the running engine.
type Daemon struct {
	cfg               *Config
	log               *slog.Logger
	id                string
	runtimes          map[string]Runtime
	images            *image.Service
	snaps             snapshot.Snapshotter
	containers        *container.Store
	execTrash         *trash.Can // removed containers' runtime directories, deleted in the background
	shims             *shimPool  // a shim started ahead of the next start
	opLocks           opLocks    // one start, stop or kill marking at a time per container
	waiters           waiters    // exits and removals
	starts            waiters
	attaching         pendingAttaches
	execs             execStore
	health            healthMonitors // health checks: each container's health and monitor
	bus               events.Bus     // container and image events (GET /events)
	restarts          restartState   // restart policies' backoff and pending restarts
	net               *netController // the default bridge network (nil with -b none)
	volumes           *volume.Store
	buildOnce         sync.Once // the builder (build.go), opened on first use
	build             *build.Builder
	buildErr          error
	buildCache        BuildCache        // nil without a builder
	registryTransport http.RoundTripper // proxies and per-registry TLS
}

// New prepares the data and exec roots and resolves the runtimes.
func New(ctx context.Context, cfg *Config, log *slog.Logger) (*Daemon, error) {
	// Daemon roots hold container filesystems and state: never world-traversable.
	for _, dir := range []string{cfg.DataRoot, cfg.ExecRoot} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create %s: %w", dir, err)
		}
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, err
		}
	}
	id, err := engineID(cfg.DataRoot)
	if err != nil {
		return nil, err
	}
	rts, err := resolveRuntimes(cfg)
	if err != nil {
		return nil, err
	}
	cs, err := content.Open(filepath.Join(cfg.DataRoot, "content"))
	if err != nil {
		return nil, err
	}
	snaps, err := snapshot.NewOverlay(filepath.Join(cfg.DataRoot, "snapshots", "overlay"))
	if err != nil {
		return nil, err
	}
	images, err := image.New(filepath.Join(cfg.DataRoot, "image"), cs, snaps, archive.WhiteoutOverlay)
	if err != nil {
		snaps.Close()
		return nil, err
	}
	containers, err := container.Open(filepath.Join(cfg.DataRoot, "containers"))
	if err != nil {
		images.Close()
		snaps.Close()
		return nil, err
	}
	volumes, err := volume.Open(filepath.Join(cfg.DataRoot, "volumes"))
	if err != nil {
		images.Close()
		snaps.Close()
		return nil, err
	}
	execTrash, err := trash.Open(filepath.Join(cfg.ExecRoot, ".trash"))
	if err != nil {
		images.Close()
		snaps.Close()
		volumes.Close()
		return nil, err
	}
	d := &Daemon{cfg: cfg, log: log, id: id, runtimes: rts, images: images, snaps: snaps, containers: containers,
		volumes: volumes, execTrash: execTrash,
		registryTransport: distribution.NewTransport(distribution.TransportOptions{CertsDir: cfg.RegistryCertsDir,
			HTTPProxy: cfg.Proxies.HTTPProxy, HTTPSProxy: cfg.Proxies.HTTPSProxy, NoProxy: cfg.Proxies.NoProxy})}
	if err := d.openNetwork(); err != nil {
		images.Close()
		snaps.Close()
		volumes.Close()
		return nil, err
	}
	d.removeUnfinishedCreates(context.Background())
	d.restoreContainers()
	d.removeOrphanSnapshots(context.Background())
	d.removeFileLeftovers(ctx)
	if err := d.reconcileNetwork(); err != nil {
		d.log.Warn("network reconcile", "err", err)
	}
	d.buildCache = builderCache{d} // build.go
	d.shims = &shimPool{path: d.shimPath()}
	if rt := d.runtimes[d.cfg.DefaultRuntime]; rt.isBerths() {
		d.shims.runtimeAhead = rt.Path
	}
	d.refillShims()
	go d.startOnBoot()
	return d, nil
}

// Close releases the stores.
func (d *Daemon) Close() error {
	d.shims.close()
	d.execTrash.Wait()
	if d.build != nil {
		d.build.Close()
	}
	d.images.Close()
	if d.net != nil {
		d.net.db.Close()
	}
	d.volumes.Close()
	return d.snaps.Close()
}

// ImportImage answers POST /images/create?fromSrc=.
func (d *Daemon) ImportImage(ctx context.Context, r io.Reader, opts image.ImportOptions) (digest.Digest, error) {
	id, err := d.images.Import(ctx, r, opts)
	d.importEvents(id, opts.Ref, err)
	return id, err
}

// ListImages answers GET /images/json.
func (d *Daemon) ListImages(ctx context.Context, f filters.Args) ([]imagetypes.Summary, error) {
	list, err := d.images.List(ctx)
	if err != nil {
		return nil, err
	}
	return d.images.Filter(ctx, list, f)
}

// InspectImage answers GET /images/{name}/json.
func (d *Daemon) InspectImage(ctx context.Context, name string) (*imagetypes.InspectResponse, error) {
	return d.images.Inspect(ctx, name)
}

// TagImage answers POST /images/{name}/tag.
func (d *Daemon) TagImage(ctx context.Context, name, ref string) error {
	defer d.tagEvent(ctx, name, ref)()
	return d.images.Tag(ctx, name, ref)
}

// DeleteImage answers DELETE /images/{name}.
func (d *Daemon) DeleteImage(ctx context.Context, name string, force bool) ([]imagetypes.DeleteResponse, error) {
	id := d.imageID(ctx, name)
	resp, err := d.images.Delete(ctx, name, force, d.imageUser)
	d.deleteEvents(id, resp)
	return resp, err
}

// imageUser finds a container built on image id, preferring a running one.
func (d *Daemon) imageUser(id string) (string, bool) {
	user := ""
	for _, c := range d.containers.List() {
		if c.ImageID == id {
			if c.Status.Alive() {
				return c.ID, true
			}
			user = c.ID
		}
	}
	return user, false
}

// engineID is the daemon's stable identity, made once per data root.
func engineID(root string) (string, error) {
	path := filepath.Join(root, "engine-id")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	buf := make([]byte, 16)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	id := hex.EncodeToString(buf)
	id = id[:8] + "-" + id[8:12] + "-" + id[12:16] + "-" + id[16:20] + "-" + id[20:]
	if err := atomicfile.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", err
	}
	return id, nil
}

// resolveRuntimes lists the OCI runtimes: berth-runtime (beside berthd, or on PATH), runc and
// crun when installed, and daemon.json's.
func resolveRuntimes(cfg *Config) (map[string]Runtime, error) {
	rts := map[string]Runtime{}
	if self, err := os.Executable(); err == nil {
		if p := filepath.Join(filepath.Dir(self), "berth-runtime"); isExecutable(p) {
			rts["berth-runtime"] = Runtime{Path: p}
		}
	}
	for _, name := range []string{"berth-runtime", "runc", "crun"} {
		if _, ok := rts[name]; ok {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			rts[name] = Runtime{Path: p}
		}
	}
	for name, r := range cfg.Runtimes {
		if r.Path == "" {
			return nil, fmt.Errorf("runtime %s: path is required", name)
		}
		rts[name] = r
	}
	if _, ok := rts[cfg.DefaultRuntime]; !ok {
		return nil, fmt.Errorf("default runtime %q is not available (known: %s)", cfg.DefaultRuntime, strings.Join(keys(rts), ", "))
	}
	return rts, nil
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// SystemVersion answers GET /version.
func (d *Daemon) SystemVersion(ctx context.Context) (*system.VersionResponse, error) {
	kernel := kernelVersion()
	return &system.VersionResponse{
		Platform:      system.PlatformInfo{Name: "berth"},
		Version:       version.Version,
		APIVersion:    version.APIVersion,
		MinAPIVersion: version.MinAPIVersion,
		GitCommit:     version.GitCommit,
		GoVersion:     runtime.Version(),
		Os:            runtime.GOOS,
		Arch:          runtime.GOARCH,
		KernelVersion: kernel,
		Components: []system.ComponentVersion{{
			Name:    "Engine",
			Version: version.Version,
			Details: map[string]string{
				"ApiVersion": version.APIVersion, "MinAPIVersion": version.MinAPIVersion,
				"GitCommit": version.GitCommit, "GoVersion": runtime.Version(),
				"Os": runtime.GOOS, "Arch": runtime.GOARCH, "KernelVersion": kernel,
				"Experimental": "false",
			},
		}, {
			Name:    d.cfg.DefaultRuntime,
			Version: runtimeVersion(d.runtimes[d.cfg.DefaultRuntime].Path),
		}},
	}, nil
}

// SystemInfo answers GET /info.
func (d *Daemon) SystemInfo(ctx context.Context) (*system.Info, error) {
	var uts unix.Utsname
	unix.Uname(&uts)
	host, _ := os.Hostname()
	osName, osVersion := osRelease()
	cgVersion := "1"
	if cgroup.V2() {
		cgVersion = "2"
	}
	rts := map[string]system.RuntimeWithStatus{}
	for name, r := range d.runtimes {
		rts[name] = system.RuntimeWithStatus{Runtime: system.Runtime{Path: r.Path, Args: r.RuntimeArgs}}
	}
	fds, _ := os.ReadDir("/proc/self/fd")
	forward, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	imgs, _ := d.images.List(ctx)
	info := &system.Info{
		ID:                 d.id,
		Images:             len(imgs),
		Driver:             "overlayfs",
		Plugins:            system.PluginsInfo{Volume: []string{"local"}, Network: []string{"bridge", "host", "none"}, Log: []string{"json-file"}},
		MemoryLimit:        true,
		SwapLimit:          true,
		CPUCfsPeriod:       true,
		CPUCfsQuota:        true,
		CPUShares:          true,
		CPUSet:             true,
		PidsLimit:          true,
		IPv4Forwarding:     strings.TrimSpace(string(forward)) == "1",
		Debug:              d.cfg.Debug,
		NFd:                len(fds),
		NGoroutines:        runtime.NumGoroutine(),
		SystemTime:         time.Now().Format(time.RFC3339Nano),
		LoggingDriver:      "json-file",
		CgroupDriver:       "cgroupfs",
		CgroupVersion:      cgVersion,
		KernelVersion:      unix.ByteSliceToString(uts.Release[:]),
		OperatingSystem:    osName,
		OSVersion:          osVersion,
		OSType:             runtime.GOOS,
		Architecture:       unix.ByteSliceToString(uts.Machine[:]),
		IndexServerAddress: "https://index.docker.io/v1/",
		NCPU:               runtime.NumCPU(),
		MemTotal:           memTotal(),
		DockerRootDir:      d.cfg.DataRoot,
		HTTPProxy:          os.Getenv("HTTP_PROXY"),
		HTTPSProxy:         os.Getenv("HTTPS_PROXY"),
		NoProxy:            os.Getenv("NO_PROXY"),
		Name:               host,
		ServerVersion:      version.Version,
		Runtimes:           rts,
		DefaultRuntime:     d.cfg.DefaultRuntime,
		LiveRestoreEnabled: d.cfg.LiveRestore,
		SecurityOptions:    []string{"name=seccomp,profile=builtin"},
	}
	info.Swarm.LocalNodeState = "inactive"
	for _, c := range d.containers.List() {
		info.Containers++
		switch c.Status {
		case container.StatusRunning, container.StatusRestarting:
			info.ContainersRunning++
		case container.StatusPaused:
			info.ContainersPaused++
		default:
			info.ContainersStopped++
		}
	}
	if cgVersion == "2" {
		info.SecurityOptions = append(info.SecurityOptions, "name=cgroupns")
	} else {
		info.Warnings = append(info.Warnings, "WARNING: this host runs cgroup v1, which the kernel and container engines are retiring")
	}
	return info, nil
}

func kernelVersion() string {
	var uts unix.Utsname
	if unix.Uname(&uts) != nil {
		return ""
	}
	return unix.ByteSliceToString(uts.Release[:])
}

func osRelease() (name, version string) {
	f, err := os.Open("/etc/os-release")
	if err != nil {
		return "Linux", ""
	}
	defer f.Close()
	name = "Linux"
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		v = strings.Trim(v, `"`)
		switch k {
		case "PRETTY_NAME":
			name = v
		case "VERSION_ID":
			version = v
		}
	}
	return name, version
}

func memTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// runtimeVersion asks a runc-compatible runtime for its version line.
func runtimeVersion(path string) string {
	if path == "" {
		return ""
	}
	out, err := exec.Command(path, "--version").Output()
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}
