package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/berthproject/berth/internal/distribution"
	"github.com/berthproject/berth/internal/errdefs"
	"github.com/berthproject/berth/internal/filters"
	"github.com/google/go-containerregistry/pkg/authn"
	imagetypes "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/registry"
)

// DistributionBackend answers the registry routes: pull and push.
type DistributionBackend interface {
	PullImage(ctx context.Context, fromImage, tag string, opts distribution.PullOptions, start func() distribution.Output) error
	PushImage(ctx context.Context, name, tag string, opts distribution.PushOptions, start func() distribution.Output) error
	Login(ctx context.Context, auth registry.AuthConfig) (registry.AuthResponse, error)
	SaveImages(ctx context.Context, names []string, w io.Writer) error
	LoadImages(ctx context.Context, r io.Reader, report func(string)) error
	ImageHistory(ctx context.Context, name string) ([]imagetypes.HistoryResponseItem, error)
	ImagePrune(ctx context.Context, f filters.Args) (*imagetypes.PruneReport, error)
	SearchImages(ctx context.Context, term string, limit int, f filters.Args, auth authn.Authenticator) ([]registry.SearchResult, error)
}

func imageHistory(ctx context.Context, w http.ResponseWriter, b ImageBackend, name string) error {
	db, ok := b.(DistributionBackend)
	if !ok {
		return errdefs.NotFound(errors.New("page not found"))
	}
	items, err := db.ImageHistory(ctx, name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, items)
}

func (s *Server) distRoutes(b any) {
	db, ok := b.(DistributionBackend)
	if !ok {
		return
	}
	s.handle("POST /auth", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		var ac registry.AuthConfig
		if err := json.NewDecoder(r.Body).Decode(&ac); err != nil {
			return errdefs.InvalidArgument(err)
		}
		resp, err := db.Login(ctx, ac)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, resp)
	})
	s.handle("GET /images/search", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		q := r.URL.Query()
		f, err := filters.Parse(q.Get("filters"))
		if err != nil {
			return err
		}
		limit := 0
		if v := q.Get("limit"); v != "" {
			if limit, err = strconv.Atoi(v); err != nil {
				return errdefs.InvalidArgument(fmt.Errorf("invalid limit %q: %w", v, err))
			}
		}
		results, err := db.SearchImages(ctx, q.Get("term"), limit, f, registryAuth(r))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, results)
	})
	s.handle("POST /images/prune", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		f, err := filters.Parse(r.URL.Query().Get("filters"))
		if err != nil {
			return err
		}
		report, err := db.ImagePrune(ctx, f)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, report)
	})
	s.handle("GET /images/get", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		names := r.URL.Query()["names"]
		if len(names) == 0 {
			return errdefs.InvalidArgument(errors.New("names is required"))
		}
		w.Header().Set("Content-Type", "application/x-tar")
		return db.SaveImages(ctx, names, w)
	})
	s.handle("POST /images/load", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		ms := &messageStream{w: w}
		return ms.finish(db.LoadImages(ctx, r.Body, func(line string) {
			ms.start()(distribution.Message{Stream: line + "\n"})
		}))
	})
}

func pushImage(ctx context.Context, w http.ResponseWriter, r *http.Request, b ImageBackend, name string) error {
	db, ok := b.(DistributionBackend)
	if !ok {
		return errdefs.NotImplemented(errors.New("pushing images is not implemented"))
	}
	ms := &messageStream{w: w}
	return ms.finish(db.PushImage(ctx, name, r.URL.Query().Get("tag"), distribution.PushOptions{Auth: registryAuth(r)}, ms.start))
}

// registryAuth decodes the X-Registry-Auth header (base64url JSON of an AuthConfig).
func registryAuth(r *http.Request) authn.Authenticator {
	h := r.Header.Get("X-Registry-Auth")
	if h == "" {
		return nil
	}
	b, err := base64.URLEncoding.DecodeString(h)
	if err != nil {
		if b, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(h, "=")); err != nil {
			return nil
		}
	}
	var ac registry.AuthConfig
	if json.Unmarshal(b, &ac) != nil {
		return nil
	}
	if ac == (registry.AuthConfig{}) {
		return nil
	}
	return authn.FromConfig(authn.AuthConfig{Username: ac.Username, Password: ac.Password, Auth: ac.Auth,
		IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken})
}

// messageStream starts a JSON message stream on w: the first message sends the headers; an error
// after that is a message too, since the status is sent.
type messageStream struct {
	w       http.ResponseWriter
	mu      sync.Mutex
	started bool
	enc     *json.Encoder
}

func (m *messageStream) start() distribution.Output {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.started {
		m.started = true
		m.w.Header().Set("Content-Type", "application/json")
		m.w.WriteHeader(http.StatusOK)
		m.enc = json.NewEncoder(m.w)
	}
	return m.write
}

func (m *messageStream) write(msg distribution.Message) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.enc.Encode(msg)
	if f, ok := m.w.(http.Flusher); ok {
		f.Flush()
	}
}

// finish ends the stream: an error before it started is the caller's to render as a status.
func (m *messageStream) finish(err error) error {
	if err == nil || !m.started {
		return err
	}
	m.write(distribution.Message{Error: &distribution.Error{Message: err.Error()}, ErrorMsg: err.Error()})
	return nil
}

func pullImage(ctx context.Context, w http.ResponseWriter, r *http.Request, b ImageBackend) error {
	db, ok := b.(DistributionBackend)
	if !ok {
		return errdefs.NotImplemented(errors.New("pulling images from a registry is not implemented"))
	}
	q := r.URL.Query()
	tag := q.Get("tag")
	opts := distribution.PullOptions{Platform: q.Get("platform"), AllTags: tag == "", Auth: registryAuth(r)}
	ms := &messageStream{w: w}
	return ms.finish(db.PullImage(ctx, q.Get("fromImage"), tag, opts, ms.start))
}
