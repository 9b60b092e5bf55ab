package daemon

import (
	"context"
	"time"

	"github.com/berthproject/berth/internal/filters"
	ctypes "github.com/moby/moby/api/types/container"
)

// ContainerPrune answers POST /containers/prune: every stopped container (created, exited,
// dead) that the filters select — until=<time>, label=k[=v], label!=k[=v] — is removed.
func (d *Daemon) ContainerPrune(ctx context.Context, f filters.Args) (*ctypes.PruneReport, error) {
	if err := f.Validate("until", "label", "label!"); err != nil {
		return nil, err
	}
	until, err := f.Until(time.Now())
	if err != nil {
		return nil, err
	}
	report := &ctypes.PruneReport{ContainersDeleted: []string{}}
	for _, c := range d.containers.List() {
		if c.Status.Alive() {
			continue
		}
		if !until.IsZero() && !c.Created.Before(until) {
			continue
		}
		if !f.MatchLabelsForPrune(c.Config.Labels) {
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
