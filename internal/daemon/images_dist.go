package daemon

import (
	"context"

	"github.com/berthproject/berth/internal/distribution"
	"github.com/berthproject/berth/internal/version"
)

func (d *Daemon) registry() *distribution.Registry {
	return &distribution.Registry{Images: d.images, InsecureRegistries: d.cfg.InsecureRegistries,
		UserAgent: "berth/" + version.Version}
}

// PullImage answers POST /images/create?fromImage=.
func (d *Daemon) PullImage(ctx context.Context, fromImage, tag string, opts distribution.PullOptions, start func() distribution.Output) error {
	return d.registry().Pull(ctx, fromImage, tag, opts, start)
}
