package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/berthproject/berth/internal/errdefs"
	"github.com/berthproject/berth/internal/events"
	"github.com/berthproject/berth/internal/timestamp"
	ctypes "github.com/moby/moby/api/types/container"
	evtypes "github.com/moby/moby/api/types/events"
)

// OpsBackend answers the routes that act on existing containers (pause, rename, restart, top,
// stats, update) and the event stream.
type OpsBackend interface {
	ContainerPause(ctx context.Context, ref string) error
	ContainerUnpause(ctx context.Context, ref string) error
	ContainerRename(ctx context.Context, ref, newName string) error
	ContainerRestart(ctx context.Context, ref, signal string, timeout *int) error
	ContainerTop(ctx context.Context, ref, psArgs string) (*ctypes.TopResponse, error)
	ContainerStats(ctx context.Context, ref string, stream, oneShot bool, send func(*ctypes.StatsResponse) error) error
	ContainerUpdate(ctx context.Context, ref string, upd *ctypes.UpdateConfig) (*ctypes.UpdateResponse, error)
	Events(ctx context.Context, o events.Options, send func(evtypes.Message) error) error
}

// boolParamDefault reads a boolean query parameter that defaults to def when absent.
func boolParamDefault(r *http.Request, name string, def bool) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, errdefs.InvalidArgument(fmt.Errorf("invalid value for %s: %s", name, v))
	}
	return b, nil
}

func noContent(w http.ResponseWriter, err error) error {
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) opsRoutes(b OpsBackend) {
	s.handle("POST /containers/{id}/pause", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		return noContent(w, b.ContainerPause(ctx, r.PathValue("id")))
	})
	s.handle("POST /containers/{id}/unpause", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		return noContent(w, b.ContainerUnpause(ctx, r.PathValue("id")))
	})
	s.handle("POST /containers/{id}/rename", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		return noContent(w, b.ContainerRename(ctx, r.PathValue("id"), r.URL.Query().Get("name")))
	})
	s.handle("POST /containers/{id}/restart", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		timeout, err := stopTimeout(r)
		if err != nil {
			return err
		}
		return noContent(w, b.ContainerRestart(ctx, r.PathValue("id"), r.URL.Query().Get("signal"), timeout))
	})
	s.handle("GET /containers/{id}/top", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		top, err := b.ContainerTop(ctx, r.PathValue("id"), r.URL.Query().Get("ps_args"))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, top)
	})
	s.handle("GET /containers/{id}/stats", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		stream, err := boolParamDefault(r, "stream", true)
		if err != nil {
			return err
		}
		oneShot, err := boolParamDefault(r, "one-shot", false)
		if err != nil {
			return err
		}
		if stream && oneShot {
			return errdefs.InvalidArgument(errors.New("cannot have stream=true and one-shot=true"))
		}
		started := false
		enc := json.NewEncoder(flushWriter{w})
		err = b.ContainerStats(ctx, r.PathValue("id"), stream, oneShot, func(st *ctypes.StatsResponse) error {
			if !started {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusOK)
				started = true
			}
			return enc.Encode(st)
		})
		if started {
			return nil // the response has begun: a failed write is a client that left
		}
		return err
	})
	s.handle("POST /containers/{id}/update", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		var upd ctypes.UpdateConfig
		if err := json.NewDecoder(r.Body).Decode(&upd); err != nil {
			if errors.Is(err, io.EOF) {
				return errdefs.InvalidArgument(errors.New("invalid JSON: got EOF while reading request body"))
			}
			return errdefs.InvalidArgument(fmt.Errorf("invalid JSON: %w", err))
		}
		res, err := b.ContainerUpdate(ctx, r.PathValue("id"), &upd)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, res)
	})
	s.handle("GET /events", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		q := r.URL.Query()
		var o events.Options
		var err error
		if o.Since, err = timestamp.ParseUnix(q.Get("since")); err != nil {
			return errdefs.InvalidArgument(err)
		}
		if o.Until, err = timestamp.ParseUnix(q.Get("until")); err != nil {
			return errdefs.InvalidArgument(err)
		}
		if o.Filter, err = events.ParseFilter(q.Get("filters")); err != nil {
			return errdefs.InvalidArgument(err)
		}
		if err := o.Validate(); err != nil {
			return errdefs.InvalidArgument(err)
		}
		// Headers go out at once: the client knows it is subscribed before any event comes.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		enc := json.NewEncoder(flushWriter{w})
		b.Events(ctx, o, func(m evtypes.Message) error { return enc.Encode(m) })
		return nil
	})
}
