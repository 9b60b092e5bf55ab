// Package build is berth's image builder: Docker's legacy builder semantics (one image per
// step, `Step N/M` output, a cache keyed by parent image, instruction and content) over a
// Dockerfile parsed by buildkit's parser. Each RUN, COPY and ADD runs in a real container of
// berth's runtime, whose layer (the diff of its upper directory) becomes the step's layer.
package build

import (
	"context"
	"fmt"
	"io"

	"github.com/berthproject/berth/internal/image"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/registry"
	"github.com/opencontainers/go-digest"
)

// Backend is what the builder needs of the engine.
type Backend interface {
	// BaseImage resolves a FROM reference to an image ID, pulling it when it is missing (or
	// always, with pull) with the matching credentials of auths; pull progress goes to out.
	BaseImage(ctx context.Context, ref string, pull bool, auths map[string]registry.AuthConfig, out io.Writer) (digest.Digest, error)
	// Scratch is the empty image of `FROM scratch`.
	Scratch(ctx context.Context) (digest.Digest, error)
	ImageConfig(ctx context.Context, id digest.Digest) (dockerspec.DockerOCIImage, error)
	HasImage(id digest.Digest) bool
	// ViewImage mounts an image's filesystem read-only (COPY --from, RUN --mount from=).
	ViewImage(ctx context.Context, id digest.Digest) (dir string, release func(), err error)
	// ConfigStep records an image that only changes the configuration (no layer).
	ConfigStep(ctx context.Context, o image.StepOptions) (digest.Digest, error)
	// ContainerStep makes an image from a container on o.Parent (see StepContainer).
	ContainerStep(ctx context.Context, o StepContainer) (digest.Digest, error)
	Tag(ctx context.Context, id digest.Digest, ref string) error
	BuildRecords(ctx context.Context) (map[digest.Digest]image.BuildRecord, error)
	// RemoveImage removes an untagged build step image nothing else uses.
	RemoveImage(ctx context.Context, id digest.Digest) error
}

// StepContainer is one step that changes the filesystem: a container is created on Parent,
// Prepare (if set) changes its root directory, Cmd (if set) runs in it with its output going to
// Output, and its layer is committed with Commit's configuration and history.
type StepContainer struct {
	Parent      digest.Digest
	Cmd         []string // nil: nothing runs (COPY, ADD, WORKDIR)
	Env         []string
	User        string
	WorkingDir  string
	NetworkMode string
	Mounts      []mount.Mount
	Prepare     func(rootfs string) error
	Output      io.Writer
	Started     func(containerID string) // told the container's ID once it exists
	Commit      image.StepOptions
	// Exclude lists paths (mount targets) that never land in the layer.
	Exclude []string
}

// ExitError is a step command that ended with a non-zero status.
type ExitError struct {
	Cmd  string
	Code int
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("The command '%s' returned a non-zero code: %d", e.Cmd, e.Code)
}
