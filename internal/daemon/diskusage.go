package daemon

import (
	"context"
	"slices"
	"time"

	"github.com/berthproject/berth/internal/container"
	"github.com/berthproject/berth/internal/filters"
	"github.com/moby/moby/api/types/build"
	ctypes "github.com/moby/moby/api/types/container"
	imagetypes "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/system"
	voltypes "github.com/moby/moby/api/types/volume"
	"github.com/opencontainers/go-digest"
)

// BuildCache is the builder's cache as `system df` and `system prune` see it. The daemon works
// without one (no builder: no build cache rows, nothing to prune).
type BuildCache interface {
	// Usage lists the cache records.
	Usage(ctx context.Context) ([]build.CacheRecord, error)
	// Prune removes unused records (all of them with opts.All) that opts.Filters select.
	Prune(ctx context.Context, opts BuildCachePruneOptions) (*build.CachePruneReport, error)
}

// BuildCachePruneOptions are POST /build/prune's parameters.
type BuildCachePruneOptions struct {
	All     bool
	Filters filters.Args // until, id, parent, type, description, inuse, shared, private
}

// DiskUsage answers GET /system/df for the object types asked for (every type when none is),
// with every item. Sizes are apparent sizes of what berth stores, each blob and layer counted
// once, so the totals agree with du on the data root.
func (d *Daemon) DiskUsage(ctx context.Context, types []system.DiskUsageObject) (*system.DiskUsage, error) {
	want := map[system.DiskUsageObject]bool{}
	for _, t := range types {
		want[t] = true
	}
	all := len(want) == 0
	du := &system.DiskUsage{}
	if all || want[system.ContainerObject] {
		seq, err := d.ContainerList(ctx, container.ListOptions{All: true, Size: true})
		if err != nil {
			return nil, err
		}
		list := slices.AppendSeq([]ctypes.Summary{}, seq) // [] when empty, not null
		cu := &ctypes.DiskUsage{Items: list, TotalCount: int64(len(list))}
		for _, c := range list {
			cu.TotalSize += c.SizeRw
			switch c.State {
			case ctypes.StateRunning, ctypes.StatePaused, ctypes.StateRestarting:
				cu.ActiveCount++
			default:
				cu.Reclaimable += c.SizeRw
			}
		}
		du.ContainerUsage = cu
	}
	if all || want[system.ImageObject] {
		usage, total, err := d.images.DiskUsage(ctx)
		if err != nil {
			return nil, err
		}
		images, err := d.images.List(ctx)
		if err != nil {
			return nil, err
		}
		users := map[string]int64{}
		for _, c := range d.containers.List() {
			users[c.ImageID]++
		}
		iu := &imagetypes.DiskUsage{Items: []imagetypes.Summary{}, TotalCount: int64(len(images)), TotalSize: total}
		for _, img := range images {
			u := usage[digest.Digest(img.ID)]
			img.Size, img.SharedSize, img.Containers = u.Size, u.Shared, users[img.ID]
			if img.Containers > 0 {
				iu.ActiveCount++
			} else {
				iu.Reclaimable += img.Size - img.SharedSize
			}
			iu.Items = append(iu.Items, img)
		}
		du.ImageUsage = iu
	}
	if all || want[system.VolumeObject] {
		vols, err := d.volumes.List()
		if err != nil {
			return nil, err
		}
		vu := &voltypes.DiskUsage{Items: []voltypes.Volume{}, TotalCount: int64(len(vols))}
		for _, v := range vols {
			info := d.volumeInfo(v)
			info.UsageData = &voltypes.UsageData{Size: d.volumes.Size(v.Name), RefCount: int64(len(d.volumeUsers(v.Name)))}
			vu.TotalSize += info.UsageData.Size
			if info.UsageData.RefCount > 0 {
				vu.ActiveCount++
			} else {
				vu.Reclaimable += info.UsageData.Size
			}
			vu.Items = append(vu.Items, info)
		}
		du.VolumeUsage = vu
	}
	if all || want[system.BuildCacheObject] {
		bu := &build.DiskUsage{Items: []build.CacheRecord{}}
		if d.buildCache != nil {
			records, err := d.buildCache.Usage(ctx)
			if err != nil {
				return nil, err
			}
			bu.Items = append(bu.Items, records...)
		}
		bu.TotalCount = int64(len(bu.Items))
		for _, r := range bu.Items {
			if r.Shared {
				continue
			}
			bu.TotalSize += r.Size
			if r.InUse {
				bu.ActiveCount++
			} else {
				bu.Reclaimable += r.Size
			}
		}
		du.BuildCacheUsage = bu
	}
	return du, nil
}

// BuildCachePrune answers POST /build/prune.
func (d *Daemon) BuildCachePrune(ctx context.Context, all bool, f filters.Args) (*build.CachePruneReport, error) {
	opts := BuildCachePruneOptions{All: all, Filters: f}
	if err := opts.Filters.Validate("until", "id", "parent", "type", "description", "inuse", "shared", "private"); err != nil {
		return nil, err
	}
	if _, err := opts.Filters.Until(time.Now()); err != nil {
		return nil, err
	}
	if d.buildCache == nil {
		return &build.CachePruneReport{CachesDeleted: []string{}}, nil
	}
	return d.buildCache.Prune(ctx, opts)
}
