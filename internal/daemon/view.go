package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berthproject/berth/internal/container"
	"github.com/berthproject/berth/internal/daemon/logopts"
	"github.com/berthproject/berth/internal/errdefs"
	"github.com/berthproject/berth/internal/filters"
	"github.com/berthproject/berth/internal/logs/jsonfile"
	"github.com/berthproject/berth/internal/stream"
	"github.com/docker/go-units"
	ctypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/storage"
)

var listFilters = []string{"id", "name", "label", "status", "exited", "ancestor", "before", "since", "health"}

// ContainerList answers GET /containers/json, newest first. The options are checked at once;
// each summary is made as the sequence reaches it, so a long list is sent while it is made.
func (d *Daemon) ContainerList(ctx context.Context, o container.ListOptions) (iter.Seq[ctypes.Summary], error) {
	if err := o.Filters.Validate(listFilters...); err != nil {
		return nil, err
	}
	for _, st := range o.Filters["status"] {
		switch st {
		case "created", "restarting", "running", "removing", "paused", "exited", "dead":
		default:
			return nil, errdefs.InvalidArgument(fmt.Errorf("invalid filter 'status=%s'", st))
		}
	}
	for _, h := range o.Filters["health"] {
		switch ctypes.HealthStatus(h) {
		case ctypes.NoHealthcheck, ctypes.Starting, ctypes.Healthy, ctypes.Unhealthy:
		default:
			return nil, errdefs.InvalidArgument(fmt.Errorf("Unrecognised filter value for health: %s", h))
		}
	}
	all := d.containers.List() // newest first
	// before/since are container references: only those created before (after) them remain.
	var before, since *container.Container
	for key, ref := range map[string]**container.Container{"before": &before, "since": &since} {
		if vs := o.Filters[key]; len(vs) > 0 {
			c, err := d.containers.Get(vs[0])
			if err != nil {
				return nil, err
			}
			*ref = c
		}
	}
	showAll := o.All || o.Limit > 0 || o.Filters.Has("status") || o.Filters.Has("exited") || before != nil || since != nil
	var ancestors []string
	for _, a := range o.Filters["ancestor"] {
		img, err := d.images.Resolve(ctx, a)
		if err != nil {
			continue // Docker ignores an ancestor it cannot find: nothing matches it
		}
		ancestors = append(ancestors, img.ID.String())
	}
	names := nameMatchers(o.Filters["name"])
	return func(yield func(ctypes.Summary) bool) {
		listed := 0
		for _, c := range all {
			if !showAll && !c.Status.Alive() {
				continue
			}
			if !matchContainer(c, o.Filters, names, ancestors, before, since) || !o.Filters.Match("health", d.healthStatus(c.ID)) {
				continue
			}
			if o.Limit > 0 && listed >= o.Limit {
				return
			}
			s := ctypes.Summary{
				ID: c.ID, Names: []string{"/" + c.Name}, Image: c.Image, ImageID: c.ImageID,
				Command: listCommand(c), Created: c.Created.Unix(),
				Labels: c.Config.Labels, State: ctypes.ContainerState(c.Status), Status: statusText(c, d.healthOf(c.ID)),
				Ports: []ctypes.PortSummary{}, Mounts: containerInspectMounts(c),
			}
			if s.Labels == nil {
				s.Labels = map[string]string{}
			}
			s.HostConfig.NetworkMode = string(c.HostConfig.NetworkMode)
			d.summaryNetwork(c, &s)
			if o.Size {
				s.SizeRw, s.SizeRootFs = d.containerSize(ctx, c)
			}
			listed++
			if !yield(s) {
				return
			}
		}
	}, nil
}

// nameMatchers are the name filter's patterns, compiled once for the whole list; one that does
// not compile matches nothing.
func nameMatchers(patterns []string) []*regexp.Regexp {
	var out []*regexp.Regexp
	for _, p := range patterns {
		re, err := regexp.Compile(strings.TrimPrefix(p, "/"))
		if err != nil {
			re = nil
		}
		out = append(out, re)
	}
	return out
}

// matchContainer applies ps's filters to one container.
func matchContainer(c *container.Container, f filters.Args, names []*regexp.Regexp, ancestors []string, before, since *container.Container) bool {
	if f.Has("name") && !slices.ContainsFunc(names, func(re *regexp.Regexp) bool { return re != nil && re.MatchString(c.Name) }) {
		return false
	}
	if !f.MatchFunc("id", func(v string) bool { return strings.HasPrefix(c.ID, v) }) ||
		!f.MatchLabels(c.Config.Labels) ||
		!f.Match("status", string(c.Status)) {
		return false
	}
	if f.Has("exited") && (c.Status != container.StatusExited || !f.Match("exited", strconv.Itoa(c.ExitCode))) {
		return false
	}
	if f.Has("ancestor") && !slices.Contains(ancestors, c.ImageID) {
		return false
	}
	if before != nil && !c.Created.Before(before.Created) {
		return false
	}
	if since != nil && !c.Created.After(since.Created) {
		return false
	}
	return true
}

// containerSize is what ps -s shows: the container's own writes, and those with its image.
func (d *Daemon) containerSize(ctx context.Context, c *container.Container) (rw, rootfs int64) {
	rw, _ = d.snaps.Size(ctx, c.ID)
	// The /etc/mtab link a start adds (addMtab) is in Docker's init layer, not counted there.
	if upper, _, err := d.layerDirs(ctx, c.ID); err == nil {
		if target, err := os.Readlink(filepath.Join(upper, "etc", "mtab")); err == nil && target == mtabTarget {
			rw -= int64(len(target))
		}
	}
	if img, err := d.images.Resolve(ctx, c.ImageID); err == nil {
		rootfs = rw + img.Size
	}
	return rw, rootfs
}

// listCommand is ps's COMMAND as Docker builds it: arguments with spaces in single quotes.
func listCommand(c *container.Container) string {
	cmd := c.Path
	for _, a := range c.Args {
		if strings.Contains(a, " ") {
			a = "'" + a + "'"
		}
		cmd += " " + a
	}
	return cmd
}

// statusText is docker ps's STATUS column: a running container's health in brackets.
func statusText(c *container.Container, health *ctypes.Health) string {
	switch c.Status {
	case container.StatusRunning:
		up := "Up " + units.HumanDuration(time.Since(c.StartedAt))
		switch {
		case health == nil:
			return up
		case health.Status == ctypes.Starting:
			return up + " (health: starting)"
		}
		return up + " (" + string(health.Status) + ")"
	case container.StatusPaused:
		return "Up " + units.HumanDuration(time.Since(c.StartedAt)) + " (Paused)"
	case container.StatusRestarting:
		return fmt.Sprintf("Restarting (%d) %s ago", c.ExitCode, units.HumanDuration(time.Since(c.FinishedAt)))
	case container.StatusExited:
		return fmt.Sprintf("Exited (%d) %s ago", c.ExitCode, units.HumanDuration(time.Since(c.FinishedAt)))
	}
	return "Created"
}

// ContainerInspect answers GET /containers/{id}/json.
func (d *Daemon) ContainerInspect(ctx context.Context, ref string) (*ctypes.InspectResponse, error) {
	c, err := d.containers.Get(ref)
	if err != nil {
		return nil, err
	}
	zero := "0001-01-01T00:00:00Z"
	ts := func(t time.Time) string {
		if t.IsZero() {
			return zero
		}
		return t.Format(time.RFC3339Nano)
	}
	return &ctypes.InspectResponse{
		ID: c.ID, Created: c.Created.Format(time.RFC3339Nano), Path: c.Path, Args: c.Args,
		State: &ctypes.State{
			Status: ctypes.ContainerState(c.Status), Running: c.Status.Alive(),
			Paused: c.Status == container.StatusPaused, Restarting: c.Status == container.StatusRestarting,
			OOMKilled: c.OOMKilled, Dead: c.Status == container.StatusDead, Pid: c.Pid, ExitCode: c.ExitCode,
			Error: c.Error, StartedAt: ts(c.StartedAt), FinishedAt: ts(c.FinishedAt),
			Health: d.healthOf(c.ID),
		},
		Image: c.ImageID, LogPath: c.LogPath, Name: "/" + c.Name, Driver: "overlayfs", Platform: "linux",
		ResolvConfPath: filepath.Join(d.containers.Dir(c.ID), resolvConfFile),
		HostnamePath:   filepath.Join(d.containers.Dir(c.ID), hostnameFile),
		HostsPath:      filepath.Join(d.containers.Dir(c.ID), hostsFile),
		GraphDriver:    d.graphDriver(ctx, c.ID),
		HostConfig:     c.HostConfig, Config: c.Config, Mounts: containerInspectMounts(c), RestartCount: c.RestartCount,
		NetworkSettings: d.networkSettings(c),
	}, nil
}

// ContainerLogs writes a container's log to w, multiplexed (stdcopy) unless it has a TTY.
func (d *Daemon) ContainerLogs(ctx context.Context, ref string, o logopts.Options, w io.Writer) (tty bool, err error) {
	c, err := d.containers.Get(ref)
	if err != nil {
		return false, err
	}
	tty = c.Config.Tty
	if err := logopts.Readable(c.HostConfig.LogConfig.Type); err != nil {
		return tty, err
	}
	stdout, stderr := w, w
	if !tty {
		stdout, stderr = stream.NewStdWriter(w, stream.Stdout), stream.NewStdWriter(w, stream.Stderr)
	}
	emit := func(e jsonfile.Entry) error {
		if !o.Keep(e.Time) {
			return nil
		}
		line := e.Log
		if o.Timestamps {
			line = e.Time.Format(time.RFC3339Nano) + " " + line
		}
		switch {
		case e.Stream == "stdout" && o.Stdout:
			_, err = io.WriteString(stdout, line)
		case e.Stream == "stderr" && o.Stderr:
			_, err = io.WriteString(stderr, line)
		}
		return err
	}
	entries, offset, err := readLog(c.LogPath)
	if err != nil {
		return tty, err
	}
	if n, perr := strconv.Atoi(o.Tail); perr == nil && n >= 0 && n < len(entries) {
		entries = entries[len(entries)-n:]
	}
	for _, e := range entries {
		if err := emit(e); err != nil {
			return tty, err
		}
	}
	if !o.Follow {
		return tty, nil
	}
	exited := d.subscribeExit(c.ID)
	// logs -f ends with the container: what it wrote last is read once it has stopped.
	for {
		done := true
		if cur, err := d.containers.Get(c.ID); err == nil {
			done = !cur.Status.Alive()
		}
		more, next, err := readLogFrom(c.LogPath, offset)
		if err != nil {
			return tty, err
		}
		offset = next
		for _, e := range more {
			if err := emit(e); err != nil {
				return tty, err
			}
		}
		if done && len(more) == 0 {
			return tty, nil
		}
		select {
		case <-ctx.Done():
			return tty, nil
		case <-exited:
			exited = d.subscribeExit(c.ID)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// readLog reads the rotated files (oldest first: path.N ... path.1) and the current one.
func readLog(path string) ([]jsonfile.Entry, int64, error) {
	rotated := 0
	for {
		if _, err := os.Stat(path + "." + strconv.Itoa(rotated+1)); err != nil {
			break
		}
		rotated++
	}
	var all []jsonfile.Entry
	for i := rotated; i >= 1; i-- {
		es, _, err := readLogFrom(path+"."+strconv.Itoa(i), 0)
		if err == nil {
			all = append(all, es...)
		}
	}
	es, off, err := readLogFrom(path, 0)
	return append(all, es...), off, err
}

func readLogFrom(path string, offset int64) ([]jsonfile.Entry, int64, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, offset, nil
	}
	if err != nil {
		return nil, offset, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() < offset {
		offset = 0 // rotated under us: start the new file from its beginning
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil, offset, err
	}
	var out []jsonfile.Entry
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			break // a partial last line is read next time
		}
		offset += int64(len(line))
		var e jsonfile.Entry
		if json.Unmarshal(line, &e) == nil {
			out = append(out, e)
		}
	}
	return out, offset, nil
}

// graphDriver is inspect's GraphDriver: the overlay directories of the container's snapshot.
func (d *Daemon) graphDriver(ctx context.Context, id string) *storage.DriverData {
	dd := &storage.DriverData{Name: "overlayfs", Data: map[string]string{}}
	mounts, err := d.snaps.Mounts(ctx, id)
	if err != nil || len(mounts) == 0 {
		return dd
	}
	for _, o := range mounts[0].Options {
		if k, v, ok := strings.Cut(o, "="); ok {
			switch k {
			case "lowerdir":
				dd.Data["LowerDir"] = v
			case "upperdir":
				dd.Data["UpperDir"] = v
			case "workdir":
				dd.Data["WorkDir"] = v
			}
		}
	}
	dd.Data["MergedDir"] = filepath.Join(d.execDir(id), "rootfs")
	return dd
}
