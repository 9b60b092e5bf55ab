package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"

	ctypes "github.com/moby/moby/api/types/container"
)

// ArchiveBackend answers /containers/{id}/archive (docker cp).
type ArchiveBackend interface {
	ContainerStatPath(ctx context.Context, ref, path string) (*ctypes.PathStat, error)
	ContainerArchivePath(ctx context.Context, ref, path string, start func(*ctypes.PathStat) io.Writer) error
	ContainerExtractToDir(ctx context.Context, ref, path string, noOverwriteDirNonDir, copyUIDGID bool, r io.Reader) error
}

func setPathStat(w http.ResponseWriter, st *ctypes.PathStat) {
	b, _ := json.Marshal(st)
	w.Header().Set("X-Docker-Container-Path-Stat", base64.StdEncoding.EncodeToString(b))
}

func (s *Server) archiveRoutes(b ArchiveBackend) {
	s.handle("HEAD /containers/{id}/archive", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		st, err := b.ContainerStatPath(ctx, r.PathValue("id"), r.URL.Query().Get("path"))
		if err != nil {
			return err
		}
		setPathStat(w, st)
		w.WriteHeader(http.StatusOK)
		return nil
	})
	s.handle("GET /containers/{id}/archive", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		started := false
		err := b.ContainerArchivePath(ctx, r.PathValue("id"), r.URL.Query().Get("path"), func(st *ctypes.PathStat) io.Writer {
			setPathStat(w, st)
			w.Header().Set("Content-Type", "application/x-tar")
			w.WriteHeader(http.StatusOK)
			started = true
			return w
		})
		if err != nil && started {
			s.log.Warn("archive: stream cut short", "container", r.PathValue("id"), "err", err)
			return nil // the status is sent: the client sees a truncated tar
		}
		return err
	})
	s.handle("PUT /containers/{id}/archive", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		err := b.ContainerExtractToDir(ctx, r.PathValue("id"), r.URL.Query().Get("path"),
			boolParam(r, "noOverwriteDirNonDir"), boolParam(r, "copyUIDGID"), r.Body)
		if err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	})
}

// ChangesBackend answers GET /containers/{id}/changes and /export.
type ChangesBackend interface {
	ContainerChanges(ctx context.Context, ref string) ([]ctypes.FilesystemChange, error)
	ContainerExport(ctx context.Context, ref string, start func() io.Writer) error
}

func (s *Server) changesRoutes(b ChangesBackend) {
	s.handle("GET /containers/{id}/changes", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		list, err := b.ContainerChanges(ctx, r.PathValue("id"))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, list)
	})
	s.handle("GET /containers/{id}/export", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		started := false
		err := b.ContainerExport(ctx, r.PathValue("id"), func() io.Writer {
			w.Header().Set("Content-Type", "application/x-tar")
			w.WriteHeader(http.StatusOK)
			started = true
			return w
		})
		if err != nil && started {
			s.log.Warn("export: stream cut short", "container", r.PathValue("id"), "err", err)
			return nil
		}
		return err
	})
}
