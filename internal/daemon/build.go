package daemon

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	buildtypes "github.com/moby/moby/api/types/build"

	"github.com/berthproject/berth/internal/build"
	"github.com/berthproject/berth/internal/container"
	"github.com/berthproject/berth/internal/daemon/logopts"
	"github.com/berthproject/berth/internal/distribution"
	"github.com/berthproject/berth/internal/errdefs"
	"github.com/berthproject/berth/internal/image"
	"github.com/berthproject/berth/internal/pathsafe"
	"github.com/berthproject/berth/internal/snapshot"
	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/authn"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/pkg/stdcopy"
	ctypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/registry"
	"github.com/opencontainers/go-digest"
)

// builder is the daemon's image builder, made on first use.
func (d *Daemon) builder() (*build.Builder, error) {
	d.buildOnce.Do(func() {
		d.build, d.buildErr = build.New(filepath.Join(d.cfg.DataRoot, "build"), buildBackend{d})
	})
	return d.build, d.buildErr
}

// Build answers POST /build.
func (d *Daemon) Build(ctx context.Context, r io.Reader, o build.Options, out io.Writer) (string, error) {
	b, err := d.builder()
	if err != nil {
		return "", err
	}
	id, err := b.Build(ctx, r, o, out)
	return id.String(), err
}

// builderCache is the builder's cache as `system df` and `system prune` see it (BuildCache);
// the builder is opened on first use.
type builderCache struct{ d *Daemon }

func (c builderCache) cache() (*build.Cache, error) {
	b, err := c.d.builder()
	if err != nil {
		return nil, err
	}
	return b.Cache(), nil
}

func (c builderCache) Usage(ctx context.Context) ([]buildtypes.CacheRecord, error) {
	bc, err := c.cache()
	if err != nil {
		return nil, err
	}
	return bc.Records(ctx)
}

// Prune empties the cache (keeping what leads to tagged images unless opts.All); the cache
// keeps no per-record usage times, so the filters select nothing narrower.
func (c builderCache) Prune(ctx context.Context, opts BuildCachePruneOptions) (*buildtypes.CachePruneReport, error) {
	bc, err := c.cache()
	if err != nil {
		return nil, err
	}
	n, err := bc.Prune(ctx, opts.All)
	if err != nil {
		return nil, err
	}
	return &buildtypes.CachePruneReport{CachesDeleted: []string{}, SpaceReclaimed: uint64(n)}, nil
}

// buildBackend is the engine as the builder sees it.
type buildBackend struct{ d *Daemon }

func (b buildBackend) BaseImage(ctx context.Context, ref string, pull bool, auths map[string]registry.AuthConfig, out io.Writer) (digest.Digest, error) {
	if !pull {
		img, err := b.d.images.Resolve(ctx, ref)
		if err == nil {
			return img.ID, nil
		}
		if !errdefs.Is(err, errdefs.KindNotFound) {
			return "", err
		}
	}
	named, err := image.ParseReference(ref)
	if err != nil {
		return "", err
	}
	name, tag := named.Name(), ""
	if t, ok := named.(reference.Tagged); ok {
		tag = t.Tag()
	}
	if dg, ok := named.(reference.Digested); ok {
		tag = dg.Digest().String()
	}
	report := func() distribution.Output {
		return func(m distribution.Message) {
			switch {
			case m.Bar != "" || m.Status == "Downloading" || m.Status == "Extracting" || m.Status == "Waiting":
				// Progress ticks: the build's text stream keeps only the milestones.
			case m.Status != "" && m.ID != "":
				fmt.Fprintf(out, "%s: %s\n", m.ID, m.Status)
			case m.Status != "":
				fmt.Fprintln(out, m.Status)
			}
		}
	}
	if err := b.d.PullImage(ctx, name, tag, distribution.PullOptions{Auth: authFor(auths, reference.Domain(named))}, report); err != nil {
		return "", err
	}
	img, err := b.d.images.Resolve(ctx, ref)
	if err != nil {
		return "", err
	}
	return img.ID, nil
}

func (b buildBackend) Scratch(ctx context.Context) (digest.Digest, error) {
	return b.d.images.Scratch(ctx)
}

func (b buildBackend) ImageConfig(ctx context.Context, id digest.Digest) (dockerspec.DockerOCIImage, error) {
	return b.d.images.Config(ctx, id)
}

func (b buildBackend) HasImage(id digest.Digest) bool { return b.d.images.HasImage(id) }

func (b buildBackend) ConfigStep(ctx context.Context, o image.StepOptions) (digest.Digest, error) {
	return b.d.images.BuildStep(ctx, o)
}

func (b buildBackend) Tag(ctx context.Context, id digest.Digest, ref string) error {
	if err := b.d.images.Tag(ctx, id.String(), ref); err != nil {
		return err
	}
	b.d.imageEvent(id.String(), ref, "tag")
	return nil
}

func (b buildBackend) BuildRecords(ctx context.Context) (map[digest.Digest]image.BuildRecord, error) {
	return b.d.images.BuildRecords(ctx)
}

func (b buildBackend) RemoveImage(ctx context.Context, id digest.Digest) error {
	if c, _ := b.d.imageUser(id.String()); c != "" {
		return errdefs.Conflict(errors.New("in use"))
	}
	_, err := b.d.images.Delete(ctx, id.String(), false, b.d.imageUser)
	return err
}

// ViewImage mounts a read-only view of an image's snapshot.
func (b buildBackend) ViewImage(ctx context.Context, id digest.Digest) (string, func(), error) {
	img, err := b.d.images.Resolve(ctx, id.String())
	if err != nil {
		return "", nil, err
	}
	key := "build-view-" + container.NewID()[:16]
	mounts, err := b.d.snaps.View(ctx, key, img.ChainID.String())
	if err != nil {
		return "", nil, err
	}
	dir := filepath.Join(b.d.cfg.ExecRoot, "build", key)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		b.d.snaps.Remove(ctx, key)
		return "", nil, err
	}
	if err := snapshot.MountAll(mounts, dir); err != nil {
		os.Remove(dir)
		b.d.snaps.Remove(ctx, key)
		return "", nil, err
	}
	return dir, func() {
		snapshot.Unmount(dir)
		os.Remove(dir)
		b.d.snaps.Remove(context.WithoutCancel(ctx), key)
	}, nil
}

// ContainerStep runs one build step in a real container: created on the parent image, its root
// changed by Prepare, its command run (output streamed), its layer committed, then removed.
func (b buildBackend) ContainerStep(ctx context.Context, o build.StepContainer) (digest.Digest, error) {
	d := b.d
	cmd := o.Cmd
	if cmd == nil {
		cmd = []string{"/bin/true"} // never started: only its filesystem is used
	}
	// The whole command is the entrypoint: the image's ENTRYPOINT and CMD play no part.
	cfg := &ctypes.Config{Image: o.Parent.String(), Entrypoint: cmd, Env: o.Env, User: o.User, WorkingDir: o.WorkingDir,
		AttachStdout: true, AttachStderr: true}
	host := &ctypes.HostConfig{NetworkMode: ctypes.NetworkMode(o.NetworkMode), Mounts: o.Mounts}
	if o.NetworkMode == "" || o.NetworkMode == "default" {
		host.NetworkMode = "bridge"
		if d.net == nil {
			host.NetworkMode = "none"
		}
	}
	id, err := d.ContainerCreate(ctx, "", cfg, host)
	if err != nil {
		return "", err
	}
	defer d.removeContainer(context.WithoutCancel(ctx), id, true, true)
	if o.Started != nil {
		o.Started(id)
	}
	if o.Prepare != nil { // a command's working directory is made by the runtime
		if err := b.prepare(ctx, id, o); err != nil {
			return "", err
		}
	}
	if o.Cmd != nil {
		if err := b.runStep(ctx, id, o); err != nil {
			return "", err
		}
	}
	upper, _, err := d.layerDirs(ctx, id)
	if err != nil {
		return "", err
	}
	exclude := map[string]bool{}
	for _, p := range o.Exclude {
		exclude[filepath.Clean(p)] = true
	}
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := writeLayerExcept(ctx, tw, upper, exclude)
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	commit := o.Commit
	commit.Parent, commit.Layer = o.Parent, pr
	img, err := d.images.BuildStep(ctx, commit)
	pr.Close()
	return img, err
}

// prepare mounts the container's filesystem, makes the working directory and lets the step
// change it.
func (b buildBackend) prepare(ctx context.Context, id string, o build.StepContainer) error {
	mounts, err := b.d.snaps.Mounts(ctx, id)
	if err != nil {
		return err
	}
	dir := filepath.Join(b.d.execDir(id), "build-rootfs")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := snapshot.MountAll(mounts, dir); err != nil {
		os.Remove(dir)
		return err
	}
	defer os.Remove(dir)
	defer snapshot.Unmount(dir)
	if o.WorkingDir != "" {
		if err := mkdirInRoot(dir, o.WorkingDir); err != nil {
			return err
		}
	}
	if o.Prepare != nil {
		return o.Prepare(dir)
	}
	return nil
}

// runStep starts the container, streams its output and waits for its exit.
func (b buildBackend) runStep(ctx context.Context, id string, o build.StepContainer) error {
	d := b.d
	if err := d.ContainerStart(ctx, id); err != nil {
		return err
	}
	pr, pw := io.Pipe()
	copied := make(chan struct{})
	go func() {
		stdcopy.StdCopy(o.Output, o.Output, pr)
		close(copied)
	}()
	_, err := d.ContainerLogs(ctx, id, logopts.Options{Stdout: true, Stderr: true, Follow: true, Tail: "all"}, pw)
	pw.Close()
	<-copied
	if err != nil {
		d.ContainerKill(context.WithoutCancel(ctx), id, "KILL")
		return err
	}
	var c *container.Container
	for {
		exited := d.subscribeExit(id) // before looking, so the exit is not missed
		if c, err = d.containers.Get(id); err != nil {
			return err
		}
		if !c.Status.Alive() {
			break
		}
		select {
		case <-exited:
		case <-ctx.Done():
			d.ContainerKill(context.WithoutCancel(ctx), id, "KILL")
			return ctx.Err()
		}
	}
	if c.ExitCode != 0 {
		return &build.ExitError{Cmd: strings.Join(o.Cmd, " "), Code: c.ExitCode}
	}
	return nil
}

// mkdirInRoot makes a directory (and its parents) inside a root filesystem.
func mkdirInRoot(rootfs, dir string) error {
	root, err := pathsafe.OpenRoot(rootfs)
	if err != nil {
		return err
	}
	defer root.Close()
	h, err := pathsafe.MkdirAll(root, dir, 0o755)
	if err != nil {
		return err
	}
	return h.Close()
}

// authFor picks a registry's credentials among a build's, keyed as docker's config.json keys
// them (Docker Hub as "https://index.docker.io/v1/", others by host, with or without a scheme).
func authFor(auths map[string]registry.AuthConfig, host string) authn.Authenticator {
	key := host
	if host == "docker.io" {
		key = "https://index.docker.io/v1/"
	}
	for _, k := range []string{key, "https://" + key, "http://" + key} {
		if ac, ok := auths[k]; ok && ac != (registry.AuthConfig{}) {
			return authn.FromConfig(authn.AuthConfig{Username: ac.Username, Password: ac.Password, Auth: ac.Auth,
				IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken})
		}
	}
	return nil
}
