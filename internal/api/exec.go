package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/berthproject/berth/internal/errdefs"
	"github.com/berthproject/berth/internal/stream"
	ctypes "github.com/moby/moby/api/types/container"
)

// ExecBackend answers the exec routes.
type ExecBackend interface {
	ExecCreate(ctx context.Context, ref string, req *ctypes.ExecCreateRequest) (string, error)
	ExecStart(ctx context.Context, id string, req *ctypes.ExecStartRequest, upgrade stream.Upgrade) error
	ExecInspect(ctx context.Context, id string) (*ctypes.ExecInspectResponse, error)
	ExecResize(ctx context.Context, id string, height, width uint16) error
}

func decodeBody(r *http.Request, v any) error {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errdefs.InvalidArgument(errors.New("invalid JSON: got EOF while reading request body"))
		}
		return errdefs.InvalidArgument(fmt.Errorf("invalid JSON: %w", err))
	}
	return nil
}

func (s *Server) execRoutes(b ExecBackend) {
	s.handle("POST /containers/{id}/exec", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		var req ctypes.ExecCreateRequest
		if err := decodeBody(r, &req); err != nil {
			return err
		}
		id, err := b.ExecCreate(ctx, r.PathValue("id"), &req)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusCreated, ctypes.ExecCreateResponse{ID: id})
	})
	s.handle("POST /exec/{id}/start", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		var req ctypes.ExecStartRequest
		if err := decodeBody(r, &req); err != nil {
			return err
		}
		if err := b.ExecStart(ctx, r.PathValue("id"), &req, upgrader(w, r)); err != nil {
			return err
		}
		if req.Detach {
			w.WriteHeader(http.StatusOK)
		}
		return nil
	})
	s.handle("GET /exec/{id}/json", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		e, err := b.ExecInspect(ctx, r.PathValue("id"))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, e)
	})
	s.handle("POST /exec/{id}/resize", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		h, wd, err := terminalSize(r)
		if err != nil {
			return err
		}
		if err := b.ExecResize(ctx, r.PathValue("id"), h, wd); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	})
}
