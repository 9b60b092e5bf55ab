package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/berthproject/berth/internal/errdefs"
	ctypes "github.com/moby/moby/api/types/container"
)

// CommitBackend answers POST /commit.
type CommitBackend interface {
	// ContainerCommit commits container ref as image newRef ("" for none); pause the
	// container meanwhile; cfg overrides its configuration, then changes apply.
	ContainerCommit(ctx context.Context, ref, newRef, author, comment string, changes []string, pause bool, cfg *ctypes.Config) (string, error)
}

func (s *Server) commitRoutes(b CommitBackend) {
	s.handle("POST /commit", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		q := r.URL.Query()
		pause, err := boolParamDefault(r, "pause", true)
		if err != nil {
			return err
		}
		var cfg *ctypes.Config
		if err := json.NewDecoder(r.Body).Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
			return errdefs.InvalidArgument(err)
		}
		ref := q.Get("repo")
		if ref != "" && q.Get("tag") != "" {
			ref += ":" + q.Get("tag")
		}
		id, err := b.ContainerCommit(ctx, q.Get("container"), ref, q.Get("author"), q.Get("comment"), q["changes"], pause, cfg)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusCreated, map[string]string{"Id": id})
	})
}
