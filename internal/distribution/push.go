package distribution

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/berthproject/berth/internal/errdefs"
	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
)

// PushOptions are those of POST /images/{name}/push.
type PushOptions struct {
	Auth authn.Authenticator
}

// PushAux is the aux message docker's CLI reads after a push.
type PushAux struct {
	Tag    string
	Digest string
	Size   int
}

// Push sends the image name:tag (every tag of the repository when tag is empty) to its
// registry, blobs the registry has being skipped and layers pulled from another repository of
// the same registry mounted from it.
func (r *Registry) Push(ctx context.Context, repoName, tag string, opts PushOptions, start func() Output) error {
	named, err := reference.ParseNormalizedNamed(repoName)
	if err != nil {
		return errdefs.InvalidArgument(fmt.Errorf("invalid reference format: %w", err))
	}
	var refs []reference.NamedTagged
	if tag != "" {
		t, err := reference.WithTag(reference.TrimNamed(named), tag)
		if err != nil {
			return errdefs.InvalidArgument(fmt.Errorf("invalid reference format: %w", err))
		}
		if _, err := r.Images.Get(ctx, t.String()); err != nil {
			return errdefs.NotFound(fmt.Errorf("tag does not exist: %s", reference.FamiliarString(t)))
		} // as dockerd: "An image does not exist locally with the tag: …"
		refs = append(refs, t)
	} else {
		refs = r.Images.TagsOfRepository(named)
		if len(refs) == 0 {
			return errdefs.NotFound(fmt.Errorf("An image does not exist locally with the tag: %s", reference.FamiliarName(named)))
		}
	}
	out := start()
	out.plain(fmt.Sprintf("The push refers to repository [%s]", named.Name()))
	for _, ref := range refs {
		if err := r.pushOne(ctx, ref, opts, out); err != nil {
			return err
		}
	}
	return nil
}

func (r *Registry) pushOne(ctx context.Context, ref reference.NamedTagged, opts PushOptions, out Output) error {
	rec, err := r.Images.Get(ctx, ref.String())
	if err != nil {
		return err
	}
	gr, err := r.gref(ref)
	if err != nil {
		return err
	}
	raw, err := r.readBlob(rec.Manifest)
	if err != nil {
		return err
	}
	cfg, err := r.readBlob(rec.ID)
	if err != nil {
		return err
	}
	m, err := r.Images.ReadManifest(rec.Manifest)
	if err != nil {
		return err
	}
	mt := types.MediaType(m.MediaType)
	if mt == "" {
		mt = types.OCIManifestSchema1
	}
	// A layer pulled from another repository of this registry can be mounted from it.
	var mountFrom name.Reference
	for _, rd := range rec.RepoDigests {
		if n, err := reference.ParseNormalizedNamed(rd); err == nil && reference.Domain(n) == reference.Domain(ref) && n.Name() != ref.Name() {
			if mr, err := r.gref(n); err == nil {
				mountFrom = mr
				break
			}
		}
	}
	var mu sync.Mutex
	opened := map[digest.Digest]bool{}
	img := &localImage{r: r, raw: raw, config: cfg, mt: mt, out: out, mountFrom: mountFrom, mu: &mu, opened: opened}
	for _, l := range m.Layers {
		out.status(shortDigest(l.Digest.String()), "Preparing")
	}
	base, err := partial.CompressedToImage(img)
	if err != nil {
		return err
	}
	if err := remote.Write(gr, &mountingImage{Image: base, mountFrom: mountFrom}, r.remoteOptions(ctx, opts.Auth)...); err != nil {
		return pushError(err)
	}
	for _, l := range m.Layers {
		switch {
		case opened[l.Digest]:
			out.status(shortDigest(l.Digest.String()), "Pushed")
		case mountFrom != nil:
			out.status(shortDigest(l.Digest.String()), "Mounted from "+mountFrom.Context().RepositoryStr())
		default:
			out.status(shortDigest(l.Digest.String()), "Layer already exists")
		}
	}
	out.plain(fmt.Sprintf("%s: digest: %s size: %d", ref.Tag(), rec.Manifest, len(raw)))
	if out != nil {
		out(Message{Aux: PushAux{Tag: ref.Tag(), Digest: rec.Manifest.String(), Size: len(raw)}})
	}
	return r.Images.AddRepoDigest(rec.ID, reference.TrimNamed(ref).String()+"@"+rec.Manifest.String())
}

func pushError(err error) error {
	if e := registryError("", err); errdefs.Is(e, errdefs.KindUnauthorized) {
		return errdefs.Unauthorized(fmt.Errorf("unauthorized: authentication required: %w", err))
	}
	return errdefs.Unavailable(err)
}

func (r *Registry) readBlob(d digest.Digest) ([]byte, error) {
	f, err := r.Images.Content().Open(d)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 8<<20))
}

// localImage is an image of the content store as go-containerregistry sees it.
type localImage struct {
	r         *Registry
	raw       []byte
	config    []byte
	mt        types.MediaType
	out       Output
	mountFrom name.Reference
	mu        *sync.Mutex
	opened    map[digest.Digest]bool
}

func (i *localImage) RawConfigFile() ([]byte, error)      { return i.config, nil }
func (i *localImage) MediaType() (types.MediaType, error) { return i.mt, nil }
func (i *localImage) RawManifest() ([]byte, error)        { return i.raw, nil }

func (i *localImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	var m v1.Manifest
	if err := json.Unmarshal(i.raw, &m); err != nil {
		return nil, err
	}
	if m.Config.Digest == h {
		return &localLayer{img: i, desc: m.Config}, nil
	}
	for _, l := range m.Layers {
		if l.Digest == h {
			return &localLayer{img: i, desc: l}, nil
		}
	}
	return nil, fmt.Errorf("blob %s is not in the manifest", h)
}

type localLayer struct {
	img  *localImage
	desc v1.Descriptor
}

func (l *localLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *localLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *localLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }
func (l *localLayer) Compressed() (io.ReadCloser, error) {
	d := digest.Digest(l.desc.Digest.String())
	f, err := l.img.r.Images.Content().Open(d)
	if err != nil {
		return nil, err
	}
	l.img.mu.Lock()
	l.img.opened[d] = true
	l.img.mu.Unlock()
	id := shortDigest(d.String())
	total := l.desc.Size
	out := l.img.out
	return struct {
		io.Reader
		io.Closer
	}{&countReader{r: f, fn: func(n int64) { out.progress(id, "Pushing", n, total) }}, f}, nil
}

// mountingImage offers each layer for a cross-repository mount when there is a source.
type mountingImage struct {
	v1.Image
	mountFrom name.Reference
}

func (m *mountingImage) Layers() ([]v1.Layer, error) {
	ls, err := m.Image.Layers()
	if err != nil || m.mountFrom == nil {
		return ls, err
	}
	out := make([]v1.Layer, len(ls))
	for i, l := range ls {
		out[i] = &remote.MountableLayer{Layer: l, Reference: m.mountFrom}
	}
	return out, nil
}
