package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/berthproject/berth/internal/errdefs"
	"github.com/berthproject/berth/internal/filters"
	"github.com/berthproject/berth/internal/image"
	imagetypes "github.com/moby/moby/api/types/image"
	"github.com/opencontainers/go-digest"
)

// ImageBackend answers the image routes.
type ImageBackend interface {
	ImportImage(ctx context.Context, r io.Reader, opts image.ImportOptions) (digest.Digest, error)
	ListImages(ctx context.Context, f filters.Args) ([]imagetypes.Summary, error)
	InspectImage(ctx context.Context, name string) (*imagetypes.InspectResponse, error)
	TagImage(ctx context.Context, name, ref string) error
	DeleteImage(ctx context.Context, name string, force bool) ([]imagetypes.DeleteResponse, error)
}

func (s *Server) imageRoutes(b ImageBackend) {
	s.handle("POST /images/create", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		q := r.URL.Query()
		src := q.Get("fromSrc")
		switch {
		case q.Get("fromImage") != "":
			return pullImage(ctx, w, r, b)
		case src == "":
			return errdefs.InvalidArgument(errors.New("fromSrc or fromImage is required"))
		}
		var body io.Reader = r.Body
		if src != "-" {
			resp, err := fetch(ctx, src)
			if err != nil {
				return err
			}
			defer resp.Close()
			body = resp
		}
		ref := q.Get("repo")
		if ref != "" && q.Get("tag") != "" {
			ref += ":" + q.Get("tag")
		}
		id, err := b.ImportImage(ctx, body, image.ImportOptions{Ref: ref, Message: q.Get("message"), Changes: q["changes"]})
		if err != nil {
			return err
		}
		// The JSON message stream `docker import` reads: the last status is the image ID.
		return writeJSON(w, http.StatusOK, map[string]string{"status": id.String()})
	})
	s.handle("GET /images/json", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		f, err := filters.Parse(r.URL.Query().Get("filters"))
		if err != nil {
			return err
		}
		list, err := b.ListImages(ctx, f)
		if err != nil {
			return err
		}
		if list == nil {
			list = []imagetypes.Summary{}
		}
		return writeJSON(w, http.StatusOK, list)
	})
	// Image names hold slashes ("library/busybox"), so the name is everything up to the action.
	s.handle("GET /images/{rest...}", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		if name, ok := strings.CutSuffix(r.PathValue("rest"), "/history"); ok && name != "" {
			return imageHistory(ctx, w, b, name)
		}
		name, ok := strings.CutSuffix(r.PathValue("rest"), "/json")
		if !ok || name == "" {
			return errdefs.NotFound(errors.New("page not found"))
		}
		img, err := b.InspectImage(ctx, name)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, img)
	})
	s.handle("POST /images/{rest...}", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		if name, ok := strings.CutSuffix(r.PathValue("rest"), "/push"); ok && name != "" {
			return pushImage(ctx, w, r, b, name)
		}
		name, ok := strings.CutSuffix(r.PathValue("rest"), "/tag")
		if !ok || name == "" {
			return errdefs.NotFound(errors.New("page not found"))
		}
		q := r.URL.Query()
		ref := q.Get("repo")
		if ref == "" {
			return errdefs.InvalidArgument(errors.New("repo is required"))
		}
		if t := q.Get("tag"); t != "" {
			ref += ":" + t
		}
		if err := b.TagImage(ctx, name, ref); err != nil {
			return err
		}
		w.WriteHeader(http.StatusCreated)
		return nil
	})
	s.handle("DELETE /images/{rest...}", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		force := r.URL.Query().Get("force")
		res, err := b.DeleteImage(ctx, r.PathValue("rest"), force == "1" || force == "true")
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, res)
	})
}

// fetch opens an import source given as a URL, through the daemon's proxy settings.
func fetch(ctx context.Context, src string) (io.ReadCloser, error) {
	if !strings.HasPrefix(src, "http://") && !strings.HasPrefix(src, "https://") {
		return nil, errdefs.InvalidArgument(fmt.Errorf("fromSrc %q: a URL (http or https) or - is required", src))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return nil, errdefs.InvalidArgument(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, errdefs.InvalidArgument(fmt.Errorf("fetch %s: %w", src, err))
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, errdefs.InvalidArgument(fmt.Errorf("fetch %s: %s", src, resp.Status))
	}
	return resp.Body, nil
}
