package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/berthproject/berth/internal/build"
	"github.com/berthproject/berth/internal/errdefs"
	buildtypes "github.com/moby/moby/api/types/build"
)

// BuildBackend answers POST /build (/build/prune is the disk usage backend's, system_df.go).
type BuildBackend interface {
	Build(ctx context.Context, contextTar io.Reader, o build.Options, out io.Writer) (string, error)
}

func (s *Server) buildRoutes(b any) {
	bb, ok := b.(BuildBackend)
	if !ok {
		return
	}
	s.handle("POST /build", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		o, err := buildOptions(r)
		if err != nil {
			return err
		}
		out := &buildStream{w: w}
		id, err := bb.Build(ctx, r.Body, o, out)
		if err != nil {
			if !out.started {
				return err
			}
			out.fail(err)
			return nil
		}
		out.aux(buildtypes.Result{ID: id})
		return nil
	})
}

// buildOptions reads POST /build's query as dockerd does.
func buildOptions(r *http.Request) (build.Options, error) {
	q := r.URL.Query()
	if q.Get("remote") != "" {
		return build.Options{}, errdefs.InvalidArgument(errors.New("remote build contexts are not supported: send the context as a tar"))
	}
	o := build.Options{Dockerfile: q.Get("dockerfile"), Tags: q["t"], Target: q.Get("target"), NetworkMode: q.Get("networkmode"),
		Platform: q.Get("platform"), Quiet: boolParam(r, "q"), NoCache: boolParam(r, "nocache"), Pull: boolParam(r, "pull")}
	if v := q.Get("buildargs"); v != "" {
		if err := json.Unmarshal([]byte(v), &o.BuildArgs); err != nil {
			return o, errdefs.InvalidArgument(fmt.Errorf("invalid buildargs: %w", err))
		}
	}
	if v := q.Get("labels"); v != "" {
		if err := json.Unmarshal([]byte(v), &o.Labels); err != nil {
			return o, errdefs.InvalidArgument(fmt.Errorf("invalid labels: %w", err))
		}
	}
	if h := r.Header.Get("X-Registry-Config"); h != "" {
		b, err := base64.URLEncoding.DecodeString(h)
		if err != nil {
			b, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(h, "="))
		}
		if err == nil {
			json.Unmarshal(b, &o.Auths) // unreadable credentials are no credentials, as dockerd
		}
	}
	if v := q.Get("version"); v == "2" {
		return o, errdefs.InvalidArgument(errors.New("BuildKit (builder version 2) is not supported: use the legacy builder (DOCKER_BUILDKIT=0)"))
	}
	for _, t := range o.Tags {
		if strings.TrimSpace(t) == "" {
			return o, errdefs.InvalidArgument(errors.New("invalid reference format"))
		}
	}
	return o, nil
}

// buildStream is the build's JSON message stream: each write is a {"stream": ...} message;
// the first one sends the status and headers.
type buildStream struct {
	w       http.ResponseWriter
	mu      sync.Mutex
	started bool
}

type buildMessage struct {
	Stream   string           `json:"stream,omitempty"`
	Aux      any              `json:"aux,omitempty"`
	Error    *buildErrorPiece `json:"errorDetail,omitempty"`
	ErrorMsg string           `json:"error,omitempty"`
}

type buildErrorPiece struct {
	Code    int    `json:"code,omitempty"`
	Message string `json:"message"`
}

func (s *buildStream) send(m buildMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		s.started = true
		s.w.Header().Set("Content-Type", "application/json")
		s.w.WriteHeader(http.StatusOK)
	}
	json.NewEncoder(s.w).Encode(m)
	if f, ok := s.w.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *buildStream) Write(p []byte) (int, error) {
	s.send(buildMessage{Stream: string(p)})
	return len(p), nil
}

func (s *buildStream) aux(v any) { s.send(buildMessage{Aux: v}) }

// fail ends the stream with the error; a failing command's exit code goes with it (docker
// build exits with it).
func (s *buildStream) fail(err error) {
	piece := &buildErrorPiece{Message: err.Error()}
	var ee *build.ExitError
	if errors.As(err, &ee) {
		piece.Code = ee.Code
	}
	s.send(buildMessage{Error: piece, ErrorMsg: err.Error()})
}
