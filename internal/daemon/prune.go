package daemon

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/berthproject/berth/internal/errdefs"
	"github.com/berthproject/berth/internal/filters"
	"github.com/berthproject/berth/internal/timestamp"
	ctypes "github.com/moby/moby/api/types/container"
)

// ContainerPrune answers POST /containers/prune: every stopped container (created, exited,
// dead) that the filters select — until=<time>, label=k[=v], label!=k[=v] — is removed.
func (d *Daemon) ContainerPrune(ctx context.Context, f filters.Args) (*ctypes.PruneReport, error) {
	if err := f.Validate("until", "label", "label!"); err != nil {
		return nil, err
	}
	var until time.Time
	if vs := f["until"]; len(vs) > 0 {
		t, err := timestamp.Parse(vs[0], time.Now())
		if err != nil {
			return nil, errdefs.InvalidArgument(fmt.Errorf("invalid filter 'until=%s': %w", vs[0], err))
		}
		until = t
	}
	report := &ctypes.PruneReport{ContainersDeleted: []string{}}
	for _, c := range d.containers.List() {
		if c.Status.Alive() {
			continue
		}
		if !until.IsZero() && !c.Created.Before(until) {
			continue
		}
		if !f.MatchLabels(c.Config.Labels) || excludedByLabel(f["label!"], c.Config.Labels) {
			continue
		}
		size, _ := d.snaps.Size(ctx, c.ID)
		if err := d.ContainerRemove(ctx, c.ID, false); err != nil {
			d.log.Warn("prune: remove failed", "container", c.ID, "err", err)
			continue
		}
		report.ContainersDeleted = append(report.ContainersDeleted, c.ID)
		report.SpaceReclaimed += uint64(size)
	}
	return report, nil
}

// excludedByLabel applies label! filters: a container with any of them is kept.
func excludedByLabel(not []string, labels map[string]string) bool {
	for _, f := range not {
		k, v, withValue := strings.Cut(f, "=")
		if got, ok := labels[k]; ok && (!withValue || got == v) {
			return true
		}
	}
	return false
}
