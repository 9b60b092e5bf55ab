package daemon

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berthproject/berth/internal/network"
	"github.com/berthproject/berth/internal/pathsafe"
	"github.com/berthproject/berth/internal/signals"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/internal/atomicfile"
	"github.com/berthproject/berth/internal/container"
	"github.com/berthproject/berth/internal/daemon/logopts"
	"github.com/berthproject/berth/internal/errdefs"
	"github.com/berthproject/berth/internal/monitor"
	"github.com/berthproject/berth/internal/oci"
	"github.com/berthproject/berth/internal/snapshot"
	ctypes "github.com/moby/moby/api/types/container"
)

// ContainerCreate answers POST /containers/create.
func (d *Daemon) ContainerCreate(ctx context.Context, name string, cfg *ctypes.Config, host *ctypes.HostConfig) (string, error) {
	if cfg == nil || cfg.Image == "" {
		return "", errdefs.InvalidArgument(errors.New("No command specified"))
	}
	if host == nil {
		host = &ctypes.HostConfig{}
	}
	if err := d.validateHostConfig(cfg, host); err != nil {
		return "", err
	}
	if err := validateHealthcheck(cfg.Healthcheck); err != nil {
		return "", err
	}
	if err := d.mergeLogConfig(&host.LogConfig); err != nil {
		return "", errdefs.InvalidArgument(err)
	}
	img, err := d.images.Resolve(ctx, cfg.Image)
	if err != nil {
		return "", err
	}
	mergeHealthcheck(cfg, img.Healthcheck)
	path, args := command(img.Config.Entrypoint, img.Config.Cmd, cfg.Entrypoint, cfg.Cmd)
	if path == "" {
		return "", errdefs.InvalidArgument(errors.New("no command specified"))
	}
	id := container.NewID()
	setCreateDefaults(cfg, host, id, d.cfg.DefaultRuntime)
	name, err = d.containers.Reserve(name, id)
	if err != nil {
		return "", err
	}
	mps, err := d.resolveMounts(cfg, host, img.Config.Volumes) // volumes.go
	if err != nil {
		d.containers.Release(name)
		return "", err
	}
	if mps == nil {
		mps = []container.MountPoint{}
	}
	c := &container.Container{MountPoints: mps,
		ID: id, Name: name, Created: time.Now().UTC(), Image: cfg.Image, ImageID: img.ID.String(),
		Config: cfg, HostConfig: host, Path: path, Args: args, Status: container.StatusCreated,
		LogPath: filepath.Join(d.containers.Dir(id), id+"-json.log"),
	}
	// The snapshot and the record are each made durable (a commit, a sync) side by side. A
	// daemon killed between the two leaves one without the other, which its next start removes
	// (removeOrphanSnapshots, removeUnfinishedCreates): the create was never answered.
	prepared := make(chan error, 1)
	go func() {
		_, err := d.snaps.Prepare(ctx, id, img.ChainID.String())
		prepared <- err
	}()
	werr := d.containers.Write(c)
	if perr := <-prepared; perr != nil || werr != nil {
		if werr == nil {
			d.containers.Discard(id)
		}
		if perr == nil {
			d.snaps.Remove(context.WithoutCancel(ctx), id)
		}
		d.containers.Release(name)
		d.releaseVolumes(&container.Container{MountPoints: mps}, true)
		return "", cmp.Or(perr, werr)
	}
	d.containers.SaveInMemory(c)
	d.event(c, "create", nil)
	return id, nil
}

// setCreateDefaults records what Docker fills in at create, so inspect shows the same: the
// hostname (the short id, or the host's on its network), the IPC and cgroup namespace modes and
// the runtime (the log driver: mergeLogConfig).
func setCreateDefaults(cfg *ctypes.Config, host *ctypes.HostConfig, id, runtime string) {
	if cfg.Hostname == "" {
		cfg.Hostname = id[:12]
		if host.NetworkMode == "host" || host.UTSMode.IsHost() {
			cfg.Hostname, _ = os.Hostname()
		}
	}
	if host.IpcMode == "" {
		host.IpcMode = "private"
	}
	if host.CgroupnsMode == "" {
		host.CgroupnsMode = "host" // berth makes no cgroup namespace yet, on v1 or v2
	}
	if host.Runtime == "" {
		host.Runtime = runtime
	}
}

// command resolves what a container runs: its own entrypoint/cmd over the image's (a new
// entrypoint drops the image's cmd, as in Docker).
func command(imgEntry, imgCmd, entry, cmd []string) (string, []string) {
	e, c := imgEntry, imgCmd
	if len(entry) > 0 {
		e, c = entry, nil
	}
	if len(cmd) > 0 {
		c = cmd
	}
	all := append(append([]string{}, e...), c...)
	if len(all) == 0 {
		return "", nil
	}
	return all[0], all[1:]
}

func (d *Daemon) execDir(id string) string { return filepath.Join(d.cfg.ExecRoot, id) }
func (d *Daemon) shimDir(id string) string { return filepath.Join(d.execDir(id), "shim") }

// shimSocket is kept short (unix socket paths have 108 bytes): exec-root/shims/<short id>.sock.
func (d *Daemon) shimSocket(id string) string {
	return filepath.Join(d.cfg.ExecRoot, "shims", id[:16]+".sock")
}

// ContainerStart answers POST /containers/{id}/start.
func (d *Daemon) ContainerStart(ctx context.Context, ref string) error {
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	unlock := d.opLocks.lock(c.ID)
	if c, err = d.containers.Get(c.ID); err != nil { // as it is now that no stop is half-way
		unlock()
		return err
	}
	if err := startable(ctx, c); err != nil {
		unlock()
		return err
	}
	pid, exited, err := d.startContainer(ctx, c)
	if err != nil {
		d.releaseResources(c.ID)
		unlock()
		if c.HostConfig.AutoRemove {
			// As Docker: --rm removes a container that could not start, so `run --rm` returns.
			if rerr := d.removeContainer(context.WithoutCancel(ctx), c.ID, true, true); rerr != nil {
				d.log.Warn("auto-remove failed", "container", c.ID, "err", rerr)
			}
		}
		d.notifyExit(c.ID) // attaches and waits for this start end with it
		return err
	}
	c.Status, c.Pid, c.StartedAt, c.ExitCode, c.Error = container.StatusRunning, pid, time.Now().UTC(), 0, ""
	err = d.containers.SaveUnsynced(c) // the shim is the truth of a running container
	unlock()
	if err != nil {
		return err
	}
	d.event(c, "start", nil)
	d.startHealth(c)
	d.starts.notify(c.ID) // attaches waiting for this start
	go d.monitorExit(c.ID, exited)
	return nil
}

// startContainer sets up the container's network, mounts its filesystem, writes its bundle and
// starts its shim; it returns the container's pid once it runs, and the shim's answer to come
// about its exit (see monitorExit). The caller cleans up after a failure.
func (d *Daemon) startContainer(ctx context.Context, c *container.Container) (int, <-chan *monitor.Exit, error) {
	began := time.Now()
	netNS, err := d.networkNamespace(c)
	if err != nil {
		return 0, nil, err
	}
	// Three things happen side by side: the network (a namespace, veths, netlink: the longest),
	// the root filesystem and the bundle, and the start-up of the shim then of the runtime,
	// which waits for the go-aheads: it reads the spec once the bundle is written, starts the
	// container's init once the namespace and /etc files are made, and lets it run the
	// container's process once the network is up.
	prepared, networked := make(chan error, 1), make(chan error, 1)
	go d.setUpNetwork(c, netNS, prepared, networked)
	fail := func(err error) (int, <-chan *monitor.Exit, error) {
		<-networked // the caller's cleanup must not race the set-up
		return 0, nil, err
	}
	// Volume subpaths are bound for the runtime to mount; once the start is decided the
	// container has its own mounts of them.
	d.releaseSubpaths(c.ID)
	defer d.releaseSubpaths(c.ID)
	shim, err := d.launchShim(c)
	if err != nil {
		return fail(err)
	}
	failShim := func(err error) (int, <-chan *monitor.Exit, error) {
		shim.discard()
		return fail(err)
	}
	rootfs := filepath.Join(d.execDir(c.ID), "rootfs")
	if err := os.MkdirAll(rootfs, 0o700); err != nil {
		return failShim(err)
	}
	mounts, err := d.snaps.Mounts(ctx, c.ID)
	if err != nil {
		return failShim(err)
	}
	snapshot.Unmount(rootfs) // a previous run's, if the daemon died before cleaning up
	if c.HostConfig.AutoRemove {
		// Thrown away at the exit: its layer need not be synced, and the unmount is quicker.
		if err := snapshot.MountAll(snapshot.Volatile(mounts), rootfs); err == nil {
			mounts = nil
		} // else a kernel without the option (before 5.10): mounted as usual
	}
	if err := snapshot.MountAll(mounts, rootfs); err != nil {
		return failShim(err)
	}
	addMtab(rootfs)
	mounted := time.Now()
	desc, err := d.containerSpec(c, rootfs)
	if err != nil {
		return failShim(err)
	}
	if err := d.writeBundle(c, desc); err != nil {
		return failShim(err)
	}
	shim.bundleWritten()
	bundled := time.Now()
	if err := <-prepared; err != nil {
		return failShim(err)
	}
	shim.namespaceReady()
	if err := <-networked; err != nil {
		shim.discard()
		return 0, nil, err
	}
	networkReady := time.Now()
	shim.networkReady()
	// The exit is asked for as soon as the start is decided: a short-lived container has often
	// ended before the start is recorded, and its removal (--rm) waits on that answer.
	exited := make(chan *monitor.Exit, 1)
	go func() {
		<-shim.ready
		exited <- d.shimWait(c.ID)
	}()
	// From here the start is the shim's: it ends in a running container or a recorded failure,
	// and a client that goes away meanwhile must not make the daemon give it up half-way (the
	// container would run on, recorded as never started).
	pid, err := d.waitStarted(context.WithoutCancel(ctx), c.ID, shim)
	if err == nil {
		// The attaches waiting for this start join the shim now, not once the start is recorded:
		// the shim holds a short-lived container's exit until they have joined.
		d.starts.notify(c.ID)
	}
	d.refillShims()
	d.log.Debug("start", "container", c.ID, "mount", mounted.Sub(began), "bundle", bundled.Sub(mounted),
		"network", networkReady.Sub(began), "runtime", time.Since(networkReady))
	return pid, exited, err
}

// refillShims starts the shim the next start takes (and, in it, the runtime) once this start is
// done: started during it, they would take the processor from it. They start up and prepare at
// idle priority (see schedprio).
func (d *Daemon) refillShims() { go d.shims.refill() }

// bundleDir is where the container's OCI bundle (config.json) is written at each start.
func (d *Daemon) bundleDir(id string) string { return filepath.Join(d.execDir(id), "bundle") }

// writeBundle writes the container's config.json from its description.
func (d *Daemon) writeBundle(c *container.Container, desc *oci.Container) error {
	spec, err := oci.Generate(desc)
	if err != nil {
		return err
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	// Rewritten at every start and useless after a power loss: no fsync.
	return atomicfile.WriteFileNoSync(filepath.Join(d.bundleDir(c.ID), "config.json"), b, 0o600)
}

// launchShim gives the container a shim (the one waiting in the pool, or a new one), which then
// waits for the go-aheads (see monitor.Options).
func (d *Daemon) launchShim(c *container.Container) (*spawnedShim, error) {
	bundle := d.bundleDir(c.ID)
	if err := monitor.AwaitGone(d.shimDir(c.ID), 10*time.Second); err != nil {
		return nil, err
	}
	os.RemoveAll(d.shimDir(c.ID))
	if err := os.MkdirAll(bundle, 0o700); err != nil {
		return nil, err
	}
	logPath, maxSize, maxFiles := c.LogPath, int64(0), 1
	if c.HostConfig.LogConfig.Type != logopts.DriverNone {
		var err error
		if maxSize, maxFiles, err = logLimits(c.HostConfig.LogConfig); err != nil {
			return nil, errdefs.InvalidArgument(fmt.Errorf("failed to initialize logging driver: %w", err))
		}
	} else {
		logPath = os.DevNull
	}
	rt := d.runtimes[d.cfg.DefaultRuntime]
	if err := os.MkdirAll(filepath.Join(d.cfg.ExecRoot, "shims"), 0o700); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(d.shimDir(c.ID), 0o700); err != nil {
		return nil, err
	}
	args := []string{"--id", c.ID, "--bundle", bundle, "--runtime", rt.Path,
		"--runtime-root", filepath.Join(d.cfg.ExecRoot, "runtime"), "--state", d.shimDir(c.ID),
		"--socket", d.shimSocket(c.ID), "--log", logPath, "--log-max-size", strconv.FormatInt(maxSize, 10),
		"--log-max-files", strconv.Itoa(maxFiles), "--cgroup", cgroupPath(c.ID),
		"--output", filepath.Join(d.shimDir(c.ID), "shim.log"), "--ready-fd", "3", "--proceed-fd", "4"}
	args = append(args, shimStdioArgs(c, d.attaching.count(c.ID))...)
	if rt.isBerths() {
		args = append(args, "--runtime-proceeds")
	}
	s, ahead, err := d.shims.take()
	if err != nil {
		return nil, err
	}
	d.log.Debug("shim", "container", c.ID, "started ahead", ahead)
	if err := s.assign(args); err != nil {
		// The waiting shim is gone (killed by someone): a new one, started for this container.
		s.discard()
		if s, err = spawnShim(d.shimPath(), "", false); err != nil {
			return nil, err
		}
		if err := s.assign(args); err != nil {
			s.discard()
			return nil, fmt.Errorf("start berth-shim: %w", err)
		}
	}
	return s, nil
}

// shimStdioArgs asks the shim for the stdio the container's Config wants.
func shimStdioArgs(c *container.Container, attachers int) []string {
	var args []string
	if c.Config.Tty {
		args = append(args, "--tty")
		if size := c.HostConfig.ConsoleSize; size[0] > 0 && size[1] > 0 {
			args = append(args, "--height", strconv.FormatUint(uint64(size[0]), 10), "--width", strconv.FormatUint(uint64(size[1]), 10))
		}
	}
	if c.Config.OpenStdin {
		args = append(args, "--stdin")
		if c.Config.StdinOnce {
			args = append(args, "--stdin-once")
		}
	}
	if attachers > 0 {
		args = append(args, "--attachers", strconv.Itoa(attachers))
	}
	return args
}

func (d *Daemon) shimPath() string {
	if self, err := os.Executable(); err == nil {
		if p := filepath.Join(filepath.Dir(self), "berth-shim"); isExecutable(p) {
			return p
		}
	}
	if p, err := exec.LookPath("berth-shim"); err == nil {
		return p
	}
	return "berth-shim"
}

// waitStarted waits until the shim signals that the start is decided, then reads whether the
// container runs or why it failed.
func (d *Daemon) waitStarted(ctx context.Context, id string, shim *spawnedShim) (int, error) {
	dir := d.shimDir(id)
	timeout := time.NewTimer(60 * time.Second)
	defer timeout.Stop()
	select {
	case <-shim.ready:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-timeout.C:
		return 0, errors.New("container did not start within 60s")
	}
	if shim.pid > 0 {
		return shim.pid, nil // it runs (or ran: its exit is watched by the caller)
	}
	shimDone := shim.done
	deadline := time.Now().Add(5 * time.Second) // decided: what remains is reading the outcome
	for time.Now().Before(deadline) {
		if e, err := monitor.ReadExit(dir); err == nil {
			if e.Error != "" {
				c, _ := d.containers.Get(id)
				if c != nil {
					c.Status, c.ExitCode, c.Error, c.FinishedAt = container.StatusCreated, e.Code, e.Error, e.FinishedAt
					d.containers.Save(c)
				}
				snapshot.Unmount(filepath.Join(d.execDir(id), "rootfs"))
				return 0, startError(e)
			}
			return 0, nil // ran and already exited
		}
		if rep, err := monitor.Call(d.shimSocket(id), monitor.Request{Op: "state"}, 5*time.Second); err == nil && rep.Running {
			return rep.Pid, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-shimDone:
			if _, err := monitor.ReadExit(dir); err == nil {
				continue // it recorded why: report that
			}
			out, _ := os.ReadFile(filepath.Join(dir, "shim.log"))
			return 0, fmt.Errorf("berth-shim exited before the container started: %s", strings.TrimSpace(string(out)))
		case <-time.After(5 * time.Millisecond):
		}
	}
	return 0, errors.New("the shim signalled the start but reports neither a running container nor an exit")
}

// startError words a start failure as Docker does, so its CLI picks the exit code (127, 126).
func startError(e *monitor.Exit) error {
	msg := "failed to create task for container: OCI runtime create failed: " + e.Error
	switch e.Code {
	case 127, 126:
		return errdefs.InvalidArgument(errors.New(msg + ": unknown"))
	}
	return errors.New(msg)
}

// shimWait asks a container's shim how the container ended, and waits for the answer (nil when
// the shim gives none).
func (d *Daemon) shimWait(id string) *monitor.Exit {
	if rep, err := monitor.Call(d.shimSocket(id), monitor.Request{Op: "wait"}, 0); err == nil && rep.Exit != nil {
		return rep.Exit
	}
	return nil
}

// monitorExit records a container's end, whenever its shim reports it: the answer on exited
// when the caller asked already, else its own shimWait's.
func (d *Daemon) monitorExit(id string, exited <-chan *monitor.Exit) {
	dir := d.shimDir(id)
	var e *monitor.Exit
	if exited != nil {
		e = <-exited
	} else {
		e = d.shimWait(id)
	}
	if e == nil {
		if x, err := monitor.ReadExit(dir); err == nil {
			e = x
		}
	}
	reported := time.Now()
	d.stopHealth(id)
	c, err := d.containers.Get(id)
	if err != nil {
		return
	}
	autoRemove := c.HostConfig != nil && c.HostConfig.AutoRemove
	if !autoRemove { // the removal releases them itself
		d.releaseResources(id)
	}
	released := time.Now()
	c.Status, c.Pid, c.FinishedAt = container.StatusExited, 0, time.Now().UTC()
	if e != nil {
		c.ExitCode, c.OOMKilled, c.FinishedAt = e.Code, e.OOMKilled, e.FinishedAt
	} else {
		// The shim went without a record (killed, or the machine restarted): the exit is unknown.
		c.ExitCode, c.Error = 255, "the container's monitor exited without recording how the container ended"
	}
	if autoRemove {
		// Removed right away: the exit is not written. A daemon killed before the removal
		// finds the record still running and the shim gone at its next start, reads the shim's
		// exit record and removes the container then.
		d.containers.SaveInMemory(c)
	} else {
		d.containers.Save(c)
	}
	d.afterExit(c)
	d.notifyExit(id)
	recorded := time.Now()
	if autoRemove {
		if err := d.removeContainer(context.Background(), id, true, true); err != nil {
			d.log.Warn("auto-remove failed", "container", id, "err", err)
		}
	}
	d.log.Debug("exit", "container", id, "since-exit", reported.Sub(c.FinishedAt), "release", released.Sub(reported),
		"record", recorded.Sub(released), "remove", time.Since(recorded))
}

// releaseResources undoes what a start set up outside the container's records: its root
// filesystem mount and its network. The two are independent and each takes milliseconds (an
// overlay unmount syncs the upper layer's filesystem), so they are undone side by side.
// Undoing what is already undone is harmless.
func (d *Daemon) releaseResources(id string) { d.releaseResourcesThen(id, nil) }

// releaseResourcesThen is releaseResources that also runs afterUnmount on the filesystem's
// side, once the root filesystem is unmounted (a removal deletes the snapshot there, while the
// network is still being released), and returns its error.
func (d *Daemon) releaseResourcesThen(id string, afterUnmount func() error) error {
	filesystem := make(chan error, 1)
	go func() {
		snapshot.Unmount(filepath.Join(d.execDir(id), "rootfs"))
		var err error
		if afterUnmount != nil {
			err = afterUnmount()
		}
		filesystem <- err
	}()
	d.releaseNetwork(id)
	network.RemoveNamespace(d.netnsPath(id))
	return <-filesystem
}

// ContainerStop answers POST /containers/{id}/stop: the stop signal, then SIGKILL after the
// timeout (the container's StopTimeout, else 10 s).
func (d *Daemon) ContainerStop(ctx context.Context, ref string, signal string, timeout *int) error {
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	if !c.Status.Alive() {
		return errdefs.NotModified(errors.New("container already stopped"))
	}
	defer d.event(c, "stop", nil)
	if signal == "" {
		signal = c.Config.StopSignal
	}
	if signal == "" {
		signal = "SIGTERM"
	}
	wait := 10
	if c.Config.StopTimeout != nil {
		wait = *c.Config.StopTimeout
	}
	if timeout != nil {
		wait = *timeout
	}
	sig, err := parseSignal(signal)
	if err != nil {
		return err
	}
	exited := d.subscribeExit(c.ID)
	d.beforeKill(c.ID, sig)
	monitor.Call(d.shimSocket(c.ID), monitor.Request{Op: "kill", Signal: sig}, 10*time.Second)
	if wait >= 0 {
		select {
		case <-exited:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(wait) * time.Second):
		}
	}
	d.beforeKill(c.ID, int(syscall.SIGKILL))
	monitor.Call(d.shimSocket(c.ID), monitor.Request{Op: "kill", Signal: int(syscall.SIGKILL), All: true}, 10*time.Second)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
	}
	return nil
}

// ContainerRemove answers DELETE /containers/{id}.
func (d *Daemon) ContainerRemove(ctx context.Context, ref string, force bool) error {
	return d.removeContainer(ctx, ref, force, false)
}

// ContainerRemoveWithVolumes answers DELETE /containers/{id}?v=1: the container's anonymous
// volumes go with it.
func (d *Daemon) ContainerRemoveWithVolumes(ctx context.Context, ref string, force bool) error {
	return d.removeContainer(ctx, ref, force, true)
}

func (d *Daemon) removeContainer(ctx context.Context, ref string, force, volumes bool) error {
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	if c.Status.Alive() {
		if !force {
			return errdefs.Conflict(fmt.Errorf("cannot remove container %q: container is %s: stop the container before removing or force remove", "/"+c.Name, c.Status))
		}
		d.beforeKill(c.ID, int(syscall.SIGKILL))
		monitor.Call(d.shimSocket(c.ID), monitor.Request{Op: "kill", Signal: int(syscall.SIGKILL), All: true}, 10*time.Second)
		d.waitExit(ctx, c.ID, 30*time.Second)
	}
	// The shim has the runtime delete the container (its cgroup, its state) after reporting the
	// exit: the removal waits for that, doing its own work meanwhile, so that the container
	// leaves no cgroup and no process behind when it returns (unless it removes the cgroup
	// itself, below).
	shimGone, waited := monitor.WatchGone(d.shimDir(c.ID)), false
	// The daemon chose the cgroup's path: when it can remove the cgroup at once (it is empty:
	// every process is gone), what remains for the runtime's delete is its own state, and the
	// removal need not wait for that process to start and finish (milliseconds). Removed
	// beside the rest of the removal (a directory per hierarchy on cgroup v1).
	cgroupRemoved := make(chan bool, 1)
	go func() { cgroupRemoved <- removeEmptyCgroup(cgroupPath(c.ID)) }()
	defer func() {
		if !waited {
			shimGone(0) // a failed removal: only let go of the shim
		}
	}()
	err = d.releaseResourcesThen(c.ID, func() error {
		if err := d.snaps.Remove(ctx, c.ID); err != nil && !errdefs.Is(err, errdefs.KindNotFound) {
			return err
		}
		d.execTrash.Remove(d.execDir(c.ID))
		return nil
	})
	if err != nil {
		return err
	}
	os.Remove(d.shimSocket(c.ID))
	d.execs.forget(c.ID)
	d.forgetHealth(c.ID)
	d.forgetContainerNetworks(c.ID)
	if err := d.containers.Delete(c.ID); err != nil {
		return err
	}
	d.releaseVolumes(c, volumes)
	if <-cgroupRemoved {
		shimGone(0)
	} else {
		shimGone(10 * time.Second)
	}
	waited = true
	d.removed(c)
	d.notifyExit(c.ID) // waiters for "removed"
	return nil
}

// ContainerKill answers POST /containers/{id}/kill.
func (d *Daemon) ContainerKill(ctx context.Context, ref string, signal string) error {
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	if !c.Status.Alive() {
		return errdefs.Conflict(fmt.Errorf("cannot kill container: %s: container %s is not running", ref, c.ID))
	}
	sig, err := parseSignal(signal)
	if err != nil {
		return err
	}
	if d.beforeKill(c.ID, sig) {
		return nil // it was only waiting to restart: now it is stopped
	}
	_, err = monitor.Call(d.shimSocket(c.ID), monitor.Request{Op: "kill", Signal: sig}, 10*time.Second)
	return err
}

// parseSignal reads the API's signal parameter (SIGKILL when empty).
func parseSignal(s string) (int, error) {
	if s == "" {
		return int(syscall.SIGKILL), nil
	}
	sig, err := signals.Parse(s)
	if err != nil {
		return 0, errdefs.InvalidArgument(fmt.Errorf("Invalid signal: %s", s))
	}
	return int(sig), nil
}

const mtabTarget = "/proc/mounts"

// addMtab gives the container Docker's /etc/mtab, a link to /proc/mounts (dockerd makes it in
// every container's init layer), unless the image has one; diff and commit leave it out.
func addMtab(rootfs string) {
	root, err := pathsafe.OpenRoot(rootfs)
	if err != nil {
		return
	}
	defer root.Close()
	etc, err := pathsafe.MkdirAllOpen(root, "/etc", 0o755)
	if err != nil {
		return
	}
	defer etc.Close()
	unix.Symlinkat(mtabTarget, int(etc.Fd()), "mtab") // EEXIST: the image's is kept
}
