package api

import (
	"context"
	"net/http"

	"github.com/moby/moby/api/types/system"
)

// SystemBackend answers the system routes.
type SystemBackend interface {
	SystemInfo(ctx context.Context) (*system.Info, error)
	SystemVersion(ctx context.Context) (*system.VersionResponse, error)
}

func (s *Server) systemRoutes(b SystemBackend) {
	ping := func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		h := w.Header()
		h.Add("Cache-Control", "no-cache, no-store, must-revalidate")
		h.Add("Pragma", "no-cache")
		h.Set("Builder-Version", "1") // the classic builder: what berth's build serves
		h.Set("Swarm", "inactive")
		if r.Method == http.MethodHead {
			h.Set("Content-Type", "text/plain; charset=utf-8")
			h.Set("Content-Length", "0")
			return nil
		}
		h.Set("Content-Type", "text/plain; charset=utf-8")
		_, err := w.Write([]byte("OK"))
		return err
	}
	s.handle("GET /_ping", ping)
	s.handle("HEAD /_ping", ping)
	s.handle("GET /version", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		v, err := b.SystemVersion(ctx)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, v)
	})
	s.handle("GET /info", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		info, err := b.SystemInfo(ctx)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, info)
	})
}
