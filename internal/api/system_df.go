package api

import (
	"context"
	"net/http"

	"github.com/berthproject/berth/internal/filters"
	"github.com/moby/moby/api/types/build"
	ctypes "github.com/moby/moby/api/types/container"
	imagetypes "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/system"
	voltypes "github.com/moby/moby/api/types/volume"
)

// DiskUsageBackend answers GET /system/df and POST /build/prune.
type DiskUsageBackend interface {
	DiskUsage(ctx context.Context, types []system.DiskUsageObject) (*system.DiskUsage, error)
	BuildCachePrune(ctx context.Context, all bool, f filters.Args) (*build.CachePruneReport, error)
}

// legacyDiskUsage is GET /system/df's body before API 1.52 (berth serves up to 1.50): the items
// of each type, and the images' layers size; clients compute the counts.
type legacyDiskUsage struct {
	LayersSize int64
	Images     []imagetypes.Summary
	Containers []ctypes.Summary
	Volumes    []voltypes.Volume
	BuildCache []build.CacheRecord
}

func (s *Server) diskUsageRoutes(b any) {
	db, ok := b.(DiskUsageBackend)
	if !ok {
		return
	}
	s.handle("GET /system/df", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		var types []system.DiskUsageObject
		for _, t := range r.URL.Query()["type"] {
			types = append(types, system.DiskUsageObject(t))
		}
		du, err := db.DiskUsage(ctx, types)
		if err != nil {
			return err
		}
		var out legacyDiskUsage
		if du.ImageUsage != nil {
			out.LayersSize, out.Images = du.ImageUsage.TotalSize, du.ImageUsage.Items
		}
		if du.ContainerUsage != nil {
			out.Containers = du.ContainerUsage.Items
		}
		if du.VolumeUsage != nil {
			out.Volumes = du.VolumeUsage.Items
		}
		if du.BuildCacheUsage != nil {
			out.BuildCache = du.BuildCacheUsage.Items
		}
		return writeJSON(w, http.StatusOK, out)
	})
	s.handle("POST /build/prune", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		f, err := filters.Parse(r.URL.Query().Get("filters"))
		if err != nil {
			return err
		}
		report, err := db.BuildCachePrune(ctx, boolParam(r, "all"), f)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, report)
	})
}
