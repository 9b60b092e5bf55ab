package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/berthproject/berth/internal/errdefs"
	"github.com/berthproject/berth/internal/filters"
	voltypes "github.com/moby/moby/api/types/volume"
)

// VolumeBackend answers the /volumes routes.
type VolumeBackend interface {
	VolumeCreate(ctx context.Context, req voltypes.CreateRequest) (*voltypes.Volume, error)
	VolumeInspect(ctx context.Context, name string) (*voltypes.Volume, error)
	VolumeList(ctx context.Context, f filters.Args) (*voltypes.ListResponse, error)
	VolumeRemove(ctx context.Context, name string, force bool) error
	VolumePrune(ctx context.Context, f filters.Args) (*voltypes.PruneReport, error)
}

func (s *Server) volumeRoutes(b VolumeBackend) {
	s.handle("POST /volumes/create", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		var req voltypes.CreateRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil && !errors.Is(err, io.EOF) {
			return errdefs.InvalidArgument(fmt.Errorf("invalid JSON: %w", err))
		}
		v, err := b.VolumeCreate(ctx, req)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusCreated, v)
	})
	s.handle("GET /volumes", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		f, err := filters.Parse(r.URL.Query().Get("filters"))
		if err != nil {
			return err
		}
		list, err := b.VolumeList(ctx, f)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, list)
	})
	s.handle("GET /volumes/{name}", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		v, err := b.VolumeInspect(ctx, r.PathValue("name"))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, v)
	})
	s.handle("DELETE /volumes/{name}", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		if err := b.VolumeRemove(ctx, r.PathValue("name"), boolParam(r, "force")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
	s.handle("POST /volumes/prune", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		f, err := filters.Parse(r.URL.Query().Get("filters"))
		if err != nil {
			return err
		}
		if versionLess(APIVersion(ctx), "1.42") {
			f["all"] = []string{"true"} // before 1.42 prune took named volumes too
		}
		report, err := b.VolumePrune(ctx, f)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, report)
	})
}

// fileRoutes registers the routes of issue 4 the backend has.
func (s *Server) fileRoutes(b any) {
	if vb, ok := b.(VolumeBackend); ok {
		s.volumeRoutes(vb)
	}
	if ab, ok := b.(ArchiveBackend); ok {
		s.archiveRoutes(ab)
	}
	if cb, ok := b.(ChangesBackend); ok {
		s.changesRoutes(cb)
	}
	if cb, ok := b.(CommitBackend); ok {
		s.commitRoutes(cb)
	}
}
