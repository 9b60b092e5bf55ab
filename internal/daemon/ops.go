package daemon

import (
	"bytes"
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

	"github.com/berthproject/berth/internal/atomicfile"
	"github.com/berthproject/berth/internal/container"
	"github.com/berthproject/berth/internal/errdefs"
	"github.com/berthproject/berth/internal/signals"
	ctypes "github.com/moby/moby/api/types/container"
	evtypes "github.com/moby/moby/api/types/events"
)

// runtimeCommand runs the default OCI runtime on the containers' runtime root and returns its
// stdout; a failure carries what the runtime said.
func (d *Daemon) runtimeCommand(ctx context.Context, args ...string) ([]byte, error) {
	rt := d.runtimes[d.cfg.DefaultRuntime]
	full := append(append(append([]string{}, rt.RuntimeArgs...), "--root", filepath.Join(d.cfg.ExecRoot, "runtime")), args...)
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, rt.Path, full...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return out, fmt.Errorf("%s: %s", filepath.Base(rt.Path), msg)
		}
		return out, fmt.Errorf("%s %s: %w", filepath.Base(rt.Path), args[0], err)
	}
	return out, nil
}

func errNotRunning(id string) error {
	return errdefs.Conflict(fmt.Errorf("container %s is not running", id))
}

func errRestarting(id string) error {
	return errdefs.Conflict(fmt.Errorf("Container %s is restarting, wait until the container is running", id))
}

// ContainerPause answers POST /containers/{id}/pause: the runtime freezes the container's cgroup.
func (d *Daemon) ContainerPause(ctx context.Context, ref string) error {
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	switch c.Status {
	case container.StatusRunning:
	case container.StatusPaused:
		return errdefs.Conflict(fmt.Errorf("Container %s is already paused", c.ID))
	case container.StatusRestarting:
		return errRestarting(c.ID)
	default:
		return errNotRunning(c.ID)
	}
	if _, err := d.runtimeCommand(ctx, "pause", c.ID); err != nil {
		return fmt.Errorf("Cannot pause container %s: %w", c.ID, err)
	}
	if err := d.setStatus(c.ID, container.StatusPaused); err != nil {
		return err
	}
	d.stopHealth(c.ID) // a frozen container is not probed, as in Docker
	d.event(c, string(evtypes.ActionPause), nil)
	return nil
}

// ContainerUnpause answers POST /containers/{id}/unpause.
func (d *Daemon) ContainerUnpause(ctx context.Context, ref string) error {
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	if c.Status != container.StatusPaused {
		if !c.Status.Alive() {
			return errNotRunning(c.ID)
		}
		return fmt.Errorf("Container %s is not paused", c.ID) // dockerd answers 500 here
	}
	if _, err := d.runtimeCommand(ctx, "resume", c.ID); err != nil {
		return fmt.Errorf("Cannot unpause container %s: %w", c.ID, err)
	}
	if err := d.setStatus(c.ID, container.StatusRunning); err != nil {
		return err
	}
	c.Status = container.StatusRunning
	d.resumeHealth(c)
	d.event(c, string(evtypes.ActionUnPause), nil)
	return nil
}

// setStatus moves the stored record to a new status, if the state machine allows it from the
// record's current one (the container may have exited meanwhile).
func (d *Daemon) setStatus(id string, to container.Status) error {
	c, err := d.containers.Get(id)
	if err != nil {
		return err
	}
	if err := c.SetStatus(to); err != nil {
		return errdefs.Conflict(err)
	}
	return d.containers.Save(c)
}

// beforeKill runs before a signal goes to a container (stop, kill, rm -f). As dockerd does,
// the stop signal or SIGKILL marks the container as stopped by hand (its restart policy leaves
// it alone until the next start) and thaws a paused container so the signal is acted on. A
// container waiting out its restart backoff has no process: the pending restart is cancelled
// and it is left exited, which wakes whoever waits for its exit; beforeKill then reports true:
// there is nothing left to signal.
func (d *Daemon) beforeKill(ref string, sig int) (nothingToSignal bool) {
	c, err := d.containers.Get(ref)
	if err != nil {
		return false
	}
	defer d.opLocks.lock(c.ID)()
	if c, err = d.containers.Get(c.ID); err != nil { // as a start under way left it
		return false
	}
	stopSig := int(syscall.SIGTERM)
	if c.Config != nil && c.Config.StopSignal != "" {
		if s, err := signals.Parse(c.Config.StopSignal); err == nil {
			stopSig = int(s)
		}
	}
	d.event(c, string(evtypes.ActionKill), map[string]string{"signal": strconv.Itoa(sig)})
	if sig != int(syscall.SIGKILL) && sig != stopSig {
		return false
	}
	c.ManuallyStopped = true
	if c.Status == container.StatusRestarting && d.restarts.cancel(c.ID) {
		c.Status = container.StatusExited
		d.containers.Save(c)
		d.notifyExit(c.ID)
		return true
	}
	d.containers.Save(c)
	if c.Status == container.StatusPaused {
		if _, err := d.runtimeCommand(context.Background(), "resume", c.ID); err != nil {
			d.log.Warn("cannot unpause container before signalling it", "container", c.ID, "err", err)
			return false
		}
		d.setStatus(c.ID, container.StatusRunning)
		d.event(c, string(evtypes.ActionUnPause), nil)
	}
	return false
}

// removed is called once a container's record is gone.
func (d *Daemon) removed(c *container.Container) {
	d.restarts.forget(c.ID)
	d.event(c, string(evtypes.ActionDestroy), nil)
}

type restartKey struct{}

// startable checks that a container may be started and readies its record: a manual start
// forgets a manual stop and resets the restart count, as in Docker.
func startable(ctx context.Context, c *container.Container) error {
	byPolicy := ctx.Value(restartKey{}) != nil
	switch c.Status {
	case container.StatusRunning:
		return errdefs.NotModified(errors.New("container already started"))
	case container.StatusPaused:
		return errdefs.Conflict(errors.New("cannot start a paused container, try unpause instead"))
	case container.StatusRestarting:
		if !byPolicy {
			return errdefs.NotModified(errors.New("container already started"))
		}
	}
	c.ManuallyStopped = false
	if !byPolicy {
		c.RestartCount = 0
	}
	return nil
}

// ContainerRename answers POST /containers/{id}/rename.
func (d *Daemon) ContainerRename(ctx context.Context, ref, newName string) error {
	if ref == "" || strings.TrimPrefix(newName, "/") == "" {
		return errdefs.InvalidArgument(errors.New("Neither old nor new names may be empty"))
	}
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	oldName := c.Name
	if strings.TrimPrefix(newName, "/") == oldName {
		return errdefs.InvalidArgument(errors.New("Renaming a container with the same name as its current name"))
	}
	if err := d.containers.Rename(c.ID, oldName, newName); err != nil {
		return err
	}
	c, err = d.containers.Get(c.ID) // the record as it is now, with its new name
	if err != nil {
		return err
	}
	if err := d.containers.Save(c); err != nil {
		d.containers.Rename(c.ID, c.Name, oldName)
		return err
	}
	d.event(c, string(evtypes.ActionRename), map[string]string{"oldName": "/" + oldName})
	return nil
}

// ContainerRestart answers POST /containers/{id}/restart: stop (if running), then start.
func (d *Daemon) ContainerRestart(ctx context.Context, ref, signal string, timeout *int) error {
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	if c.Status.Alive() {
		if err := d.ContainerStop(ctx, c.ID, signal, timeout); err != nil && !errdefs.Is(err, errdefs.KindNotModified) {
			return fmt.Errorf("Cannot restart container %s: %w", ref, err)
		}
	}
	if err := d.ContainerStart(ctx, c.ID); err != nil {
		return fmt.Errorf("Cannot restart container %s: %w", ref, err)
	}
	d.event(c, string(evtypes.ActionRestart), nil)
	return nil
}

// ContainerTop answers GET /containers/{id}/top: the host's ps, restricted to the container's
// processes (the runtime lists them from the container's cgroup).
func (d *Daemon) ContainerTop(ctx context.Context, ref, psArgs string) (*ctypes.TopResponse, error) {
	c, err := d.containers.Get(ref)
	if err != nil {
		return nil, err
	}
	switch c.Status {
	case container.StatusRunning, container.StatusPaused:
	case container.StatusRestarting:
		return nil, errRestarting(c.ID)
	default:
		return nil, errNotRunning(c.ID)
	}
	out, err := d.runtimeCommand(ctx, "ps", "--format", "json", c.ID)
	if err != nil {
		return nil, err
	}
	var pids []int
	if err := json.Unmarshal(out, &pids); err != nil {
		return nil, fmt.Errorf("runtime ps: %w", err)
	}
	if psArgs == "" {
		psArgs = "-ef"
	}
	var stderr bytes.Buffer
	ps := exec.CommandContext(ctx, "ps", strings.Fields(psArgs)...)
	ps.Stderr = &stderr
	psOut, err := ps.Output()
	if err != nil {
		return nil, errdefs.InvalidArgument(fmt.Errorf("ps: %s", strings.TrimSpace(stderr.String()+" "+err.Error())))
	}
	top, err := parsePS(psOut, pids)
	if err != nil {
		return nil, err
	}
	d.event(c, string(evtypes.ActionTop), nil)
	return top, nil
}

// parsePS keeps ps's rows whose PID is one of pids. The last column (the command) may hold
// spaces: whatever lies beyond the other columns is joined into it.
func parsePS(out []byte, pids []int) (*ctypes.TopResponse, error) {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	titles := strings.Fields(lines[0])
	pidCol := -1
	for i, t := range titles {
		if t == "PID" {
			pidCol = i
			break
		}
	}
	if pidCol < 0 {
		return nil, errdefs.InvalidArgument(errors.New("Couldn't find PID field in ps output"))
	}
	in := map[int]bool{}
	for _, p := range pids {
		in[p] = true
	}
	top := &ctypes.TopResponse{Titles: titles, Processes: [][]string{}}
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) <= pidCol {
			continue
		}
		pid, err := strconv.Atoi(f[pidCol])
		if err != nil || !in[pid] {
			continue
		}
		if len(f) > len(titles) {
			f = append(f[:len(titles)-1], strings.Join(f[len(titles)-1:], " "))
		}
		top.Processes = append(top.Processes, f)
	}
	return top, nil
}

// writeTempJSON writes v to a private file under the container's exec dir and returns its path.
func (d *Daemon) writeTempJSON(id, name string, v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	dir := d.execDir(id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	return path, atomicfile.WriteFile(path, b, 0o600)
}
