package daemon

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"io"

	"github.com/berthproject/berth/internal/errdefs"
	"github.com/berthproject/berth/internal/filters"

	"github.com/berthproject/berth/internal/distribution"
	"github.com/berthproject/berth/internal/version"
	"github.com/google/go-containerregistry/pkg/authn"
	imagetypes "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/registry"
)

func (d *Daemon) registry() *distribution.Registry {
	return &distribution.Registry{Images: d.images, InsecureRegistries: d.cfg.InsecureRegistries, Mirrors: d.cfg.RegistryMirrors,
		UserAgent: "berth/" + version.Version, Transport: d.registryTransport}
}

// PullImage answers POST /images/create?fromImage=.
func (d *Daemon) PullImage(ctx context.Context, fromImage, tag string, opts distribution.PullOptions, start func() distribution.Output) error {
	return d.registry().Pull(ctx, fromImage, tag, opts, start)
}

// PushImage answers POST /images/{name}/push.
func (d *Daemon) PushImage(ctx context.Context, name, tag string, opts distribution.PushOptions, start func() distribution.Output) error {
	return d.registry().Push(ctx, name, tag, opts, start)
}

// Login answers POST /auth: the credentials are checked against the registry.
func (d *Daemon) Login(ctx context.Context, ac registry.AuthConfig) (registry.AuthResponse, error) {
	token, err := d.registry().Login(ctx, ac.ServerAddress, authn.FromConfig(authn.AuthConfig{Username: ac.Username, Password: ac.Password,
		Auth: ac.Auth, IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken}))
	if err != nil {
		return registry.AuthResponse{}, err
	}
	return registry.AuthResponse{Status: "Login Succeeded", IdentityToken: token}, nil
}

// SaveImages answers GET /images/get.
func (d *Daemon) SaveImages(ctx context.Context, names []string, w io.Writer) error {
	return d.images.Save(ctx, names, w)
}

// LoadImages answers POST /images/load.
func (d *Daemon) LoadImages(ctx context.Context, r io.Reader, report func(string)) error {
	return d.images.Load(ctx, r, report)
}

// ImageHistory answers GET /images/{name}/history.
func (d *Daemon) ImageHistory(ctx context.Context, name string) ([]imagetypes.HistoryResponseItem, error) {
	return d.images.History(ctx, name)
}

// ImagePrune answers POST /images/prune: dangling images (untagged), or with dangling=false
// every image no container uses, that the filters select (until, label, label!).
func (d *Daemon) ImagePrune(ctx context.Context, f filters.Args) (*imagetypes.PruneReport, error) {
	if err := f.Validate("dangling", "until", "label", "label!"); err != nil {
		return nil, err
	}
	danglingOnly := true
	if vs := f["dangling"]; len(vs) > 0 {
		switch vs[0] {
		case "false", "0":
			danglingOnly = false
		case "true", "1":
		default:
			return nil, errdefs.InvalidArgument(fmt.Errorf("invalid filter 'dangling=%s'", vs[0]))
		}
	}
	until, err := f.Until(time.Now())
	if err != nil {
		return nil, err
	}
	list, err := d.images.List(ctx)
	if err != nil {
		return nil, err
	}
	report := &imagetypes.PruneReport{ImagesDeleted: []imagetypes.DeleteResponse{}}
	for _, img := range list {
		if danglingOnly && len(img.RepoTags) > 0 {
			continue
		}
		if !until.IsZero() && !time.Unix(img.Created, 0).Before(until) {
			continue
		}
		if !f.MatchLabelsForPrune(img.Labels) {
			continue
		}
		if c, _ := d.imageUser(img.ID); c != "" {
			continue
		}
		resp, err := d.DeleteImage(ctx, img.ID, true)
		if err != nil {
			d.log.Warn("image prune: remove failed", "image", img.ID, "err", err)
			continue
		}
		report.ImagesDeleted = append(report.ImagesDeleted, resp...)
		report.SpaceReclaimed += uint64(img.Size)
	}
	// What interrupted pulls and loads left goes too: nothing can name it.
	report.SpaceReclaimed += uint64(d.images.PruneUnreferenced(ctx))
	return report, nil
}

// SearchImages answers GET /images/search: term is "HOST[:PORT]/WORDS" for a registry's catalog,
// or words for Docker Hub; filters is-official, is-automated and stars select further.
func (d *Daemon) SearchImages(ctx context.Context, term string, limit int, f filters.Args, auth authn.Authenticator) ([]registry.SearchResult, error) {
	if err := f.Validate("is-official", "is-automated", "stars"); err != nil {
		return nil, err
	}
	if limit == 0 {
		limit = 25
	}
	if limit < 1 || limit > 100 {
		return nil, errdefs.InvalidArgument(fmt.Errorf("limit %d is outside the range of [1, 100]", limit))
	}
	boolFilter := func(key string) (*bool, error) {
		vs := f[key]
		if len(vs) == 0 {
			return nil, nil
		}
		b, err := strconv.ParseBool(vs[0])
		if err != nil {
			return nil, errdefs.InvalidArgument(fmt.Errorf("invalid filter '%s=%s'", key, vs[0]))
		}
		return &b, nil
	}
	official, err := boolFilter("is-official")
	if err != nil {
		return nil, err
	}
	automated, err := boolFilter("is-automated")
	if err != nil {
		return nil, err
	}
	minStars := 0
	for _, v := range f["stars"] {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, errdefs.InvalidArgument(fmt.Errorf("invalid filter 'stars=%s'", v))
		}
		minStars = max(minStars, n)
	}
	results, err := d.registry().Search(ctx, term, limit, auth)
	if err != nil {
		return nil, err
	}
	out := []registry.SearchResult{}
	for _, r := range results {
		// No repository is "automated" any more (the field is deprecated, always false).
		if (official != nil && r.IsOfficial != *official) || (automated != nil && *automated) || r.StarCount < minStars {
			continue
		}
		out = append(out, r)
	}
	return out, nil
}
