package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berthproject/berth/internal/container"
	"github.com/berthproject/berth/internal/errdefs"
	"github.com/berthproject/berth/internal/monitor"
	"github.com/berthproject/berth/internal/oci"
	"github.com/berthproject/berth/internal/signals"
	"github.com/berthproject/berth/internal/stream"
	ctypes "github.com/moby/moby/api/types/container"
	evtypes "github.com/moby/moby/api/types/events"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// execStore holds exec instances in memory, as Docker does: they belong to a running container
// and are forgotten a while after they end.
type execStore struct {
	mu sync.Mutex
	m  map[string]*execInstance
}

type execInstance struct {
	id          string
	containerID string
	cfg         ctypes.ExecCreateRequest
	mu          sync.Mutex
	started     bool
	running     bool
	pid         int
	exitCode    *int
	ended       time.Time
}

const execRetention = 5 * time.Minute

func (s *execStore) put(e *execInstance) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]*execInstance{}
	}
	for id, old := range s.m {
		old.mu.Lock()
		stale := !old.ended.IsZero() && time.Since(old.ended) > execRetention
		old.mu.Unlock()
		if stale {
			delete(s.m, id)
		}
	}
	s.m[e.id] = e
}

func (s *execStore) get(id string) (*execInstance, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[id]; ok {
		return e, nil
	}
	for full, e := range s.m { // Docker takes a unique prefix too
		if len(id) >= 6 && strings.HasPrefix(full, id) {
			return e, nil
		}
	}
	return nil, errdefs.NotFound(fmt.Errorf("No such exec instance: %s", id))
}

// forget drops a removed container's execs.
func (s *execStore) forget(containerID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, e := range s.m {
		if e.containerID == containerID {
			delete(s.m, id)
		}
	}
}

// ExecCreate answers POST /containers/{id}/exec.
func (d *Daemon) ExecCreate(ctx context.Context, ref string, req *ctypes.ExecCreateRequest) (string, error) {
	c, err := d.containers.Get(ref)
	if err != nil {
		return "", err
	}
	if c.Status == container.StatusPaused {
		return "", errdefs.Conflict(fmt.Errorf("container %s is paused, unpause the container before exec", c.ID))
	}
	if c.Status != container.StatusRunning {
		return "", errdefs.Conflict(fmt.Errorf("container %s is not running", c.ID))
	}
	if len(req.Cmd) == 0 {
		return "", errdefs.InvalidArgument(errors.New("No exec command specified"))
	}
	if _, err := stream.ParseDetachKeys(req.DetachKeys); err != nil {
		return "", errdefs.InvalidArgument(err)
	}
	b := make([]byte, 32)
	rand.Read(b)
	e := &execInstance{id: hex.EncodeToString(b), containerID: c.ID, cfg: *req}
	d.execs.put(e)
	d.ExecEvent(c.ID, string(evtypes.ActionExecCreate), e.id, req.Cmd, nil)
	return e.id, nil
}

// ExecInspect answers GET /exec/{id}/json.
func (d *Daemon) ExecInspect(ctx context.Context, id string) (*ctypes.ExecInspectResponse, error) {
	e, err := d.execs.get(id)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	r := &ctypes.ExecInspectResponse{
		ID: e.id, Running: e.running, ExitCode: e.exitCode, ContainerID: e.containerID, Pid: e.pid,
		OpenStdin: e.cfg.AttachStdin, OpenStdout: e.cfg.AttachStdout, OpenStderr: e.cfg.AttachStderr,
		CanRemove: !e.running && e.started, DetachKeys: []byte{},
		ProcessConfig: &ctypes.ExecProcessConfig{Tty: e.cfg.Tty, Entrypoint: e.cfg.Cmd[0], Arguments: append([]string{}, e.cfg.Cmd[1:]...), User: e.cfg.User},
	}
	if e.cfg.Privileged {
		r.ProcessConfig.Privileged = &e.cfg.Privileged
	}
	return r, nil
}

// ExecResize answers POST /exec/{id}/resize.
func (d *Daemon) ExecResize(ctx context.Context, id string, height, width uint16) error {
	e, err := d.execs.get(id)
	if err != nil {
		return err
	}
	_, err = monitor.Call(d.shimSocket(e.containerID), monitor.Request{Op: "resize", ExecID: e.id, Height: height, Width: width}, 5*time.Second)
	return err
}

// ExecStart answers POST /exec/{id}/start: detached, it returns once the process runs; else it
// streams the process's stdio over the upgraded connection until it exits.
func (d *Daemon) ExecStart(ctx context.Context, id string, req *ctypes.ExecStartRequest, upgrade stream.Upgrade) error {
	e, err := d.execs.get(id)
	if err != nil {
		return err
	}
	e.mu.Lock()
	if e.started {
		e.mu.Unlock()
		return errdefs.Conflict(fmt.Errorf("exec command %s is already running", e.id))
	}
	e.started = true
	e.mu.Unlock()
	c, err := d.containers.Get(e.containerID)
	if err != nil {
		return err
	}
	if c.Status != container.StatusRunning {
		return errdefs.Conflict(fmt.Errorf("container %s is not running", c.ID))
	}
	tty := e.cfg.Tty || req.Tty
	proc, err := d.execProcess(c, &e.cfg, tty)
	if err != nil {
		return err
	}
	size := e.cfg.ConsoleSize
	if req.ConsoleSize != nil {
		size = req.ConsoleSize
	}
	shimReq := monitor.Request{Op: "exec", Stdin: e.cfg.AttachStdin && !req.Detach,
		Exec: &monitor.ExecRequest{ID: e.id, Process: proc}}
	if size != nil {
		shimReq.Exec.Height, shimReq.Exec.Width = uint16(size[0]), uint16(size[1])
	}
	shim, err := monitor.Open(d.shimSocket(c.ID), shimReq)
	if err != nil {
		return fmt.Errorf("container %s: %w", c.ID, err)
	}
	var startErr string
	onControl := func(payload []byte) {
		var ctl monitor.Control
		if json.Unmarshal(payload, &ctl) != nil {
			return
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		switch {
		case ctl.Error != "":
			startErr = ctl.Error
			code := signals.StartFailureCode(ctl.Error, 126) // as Docker reports an exec that could not start
			e.exitCode, e.ended = &code, time.Now()
		case ctl.ExitCode != nil:
			e.exitCode, e.running, e.ended = ctl.ExitCode, false, time.Now()
			d.ExecEvent(c.ID, string(evtypes.ActionExecDie), e.id, nil, map[string]string{"exitCode": strconv.Itoa(*ctl.ExitCode)})
		case ctl.Pid > 0:
			e.pid, e.running = ctl.Pid, true
			d.ExecEvent(c.ID, string(evtypes.ActionExecStart), e.id, e.cfg.Cmd, nil)
		}
	}
	if req.Detach {
		// The first control frame says whether it runs; the rest is followed in the background.
		if err := firstControl(shim, onControl); err != nil {
			shim.Close()
			return fmt.Errorf("exec: %w", err)
		}
		if startErr != "" {
			shim.Close()
			return errors.New("OCI runtime exec failed: " + startErr + ": unknown")
		}
		go func() {
			defer shim.Close()
			copyFrames(discard{}, shim, false, onControl)
		}()
		return nil
	}
	defer shim.Close()
	conn, err := upgrade(tty)
	if err != nil {
		return err
	}
	defer conn.Close()
	keys, _ := stream.ParseDetachKeys(e.cfg.DetachKeys) // checked at create
	relay(conn, shim, tty, e.cfg.AttachStdin, keys, onControl)
	if startErr != "" {
		// As Docker: the stream is already upgraded, so the failure is written into it.
		msg := []byte("OCI runtime exec failed: " + startErr + ": unknown\r\n")
		if tty {
			conn.Write(msg)
		} else {
			monitor.WriteFrame(conn, monitor.FrameStdout, msg)
		}
	}
	return nil
}

// execProcess is the exec's process: the container's own (capabilities, rlimits, seccomp
// state...) with the exec's command, environment, directory, user and terminal.
func (d *Daemon) execProcess(c *container.Container, cfg *ctypes.ExecCreateRequest, tty bool) (*specs.Process, error) {
	b, err := os.ReadFile(filepath.Join(d.execDir(c.ID), "bundle", "config.json"))
	if err != nil {
		return nil, fmt.Errorf("container %s: read its spec: %w", c.ID, err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(b, &spec); err != nil || spec.Process == nil {
		return nil, fmt.Errorf("container %s: bad spec", c.ID)
	}
	p := *spec.Process
	p.Args = cfg.Cmd
	p.Terminal = tty
	p.Env = mergeEnv(p.Env, cfg.Env)
	if tty {
		p.Env = mergeEnv(p.Env, []string{"TERM=xterm"})
	}
	p.ConsoleSize = nil
	if cfg.WorkingDir != "" {
		p.Cwd = cfg.WorkingDir
	}
	if cfg.User != "" {
		u, err := oci.ResolveUser(filepath.Join(d.execDir(c.ID), "rootfs"), cfg.User)
		if err != nil {
			return nil, err
		}
		p.User = specs.User{UID: u.UID, GID: u.GID, AdditionalGids: u.AdditionalGids, Umask: p.User.Umask}
	}
	if cfg.Privileged {
		all, err := hostCapabilities()
		if err != nil {
			return nil, err
		}
		p.Capabilities = &specs.LinuxCapabilities{Bounding: all, Effective: all, Permitted: all}
	}
	return &p, nil
}

// mergeEnv overlays KEY=VALUE entries: a later key replaces an earlier one in place.
func mergeEnv(base, over []string) []string {
	out := append([]string{}, base...)
	index := map[string]int{}
	for i, kv := range out {
		k, _, _ := strings.Cut(kv, "=")
		index[k] = i
	}
	for _, kv := range over {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := index[k]; ok {
			out[i] = kv
		} else {
			index[k] = len(out)
			out = append(out, kv)
		}
	}
	return out
}

// firstControl reads a shim's frames up to the first control frame.
func firstControl(shim io.Reader, onControl func([]byte)) error {
	var buf []byte
	for {
		stream, payload, err := monitor.ReadFrame(shim, buf)
		if err != nil {
			return err
		}
		buf = payload[:0]
		if stream == monitor.FrameControl {
			onControl(payload)
			return nil
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
