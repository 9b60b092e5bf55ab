package daemon

import (
	"context"
	"io"

	"github.com/berthproject/berth/internal/distribution"
	"github.com/berthproject/berth/internal/version"
	"github.com/google/go-containerregistry/pkg/authn"
	imagetypes "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/registry"
)

func (d *Daemon) registry() *distribution.Registry {
	return &distribution.Registry{Images: d.images, InsecureRegistries: d.cfg.InsecureRegistries,
		UserAgent: "berth/" + version.Version}
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
