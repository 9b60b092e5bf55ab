package image

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/berthproject/berth/internal/archive"
	"github.com/berthproject/berth/internal/content"
	"github.com/berthproject/berth/internal/errdefs"
	"github.com/berthproject/berth/internal/snapshot"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"
)

// Content is the blob store images are kept in: registry clients write manifests, configs and
// layers there before Register makes an image of them.
func (s *Service) Content() *content.Store { return s.content }

// Manifest is the part of an OCI or Docker v2 schema 2 manifest an image is made of.
type Manifest struct {
	MediaType string               `json:"mediaType,omitempty"`
	Config    ocispec.Descriptor   `json:"config"`
	Layers    []ocispec.Descriptor `json:"layers"`
}

// ReadManifest parses a manifest blob of the content store.
func (s *Service) ReadManifest(d digest.Digest) (Manifest, error) {
	var m Manifest
	b, err := s.readBlob(d)
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, errdefs.InvalidArgument(fmt.Errorf("manifest %s: %w", d, err))
	}
	return m, nil
}

func (s *Service) readBlob(d digest.Digest) ([]byte, error) {
	f, err := s.content.Open(d)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 8<<20))
}

// UnpackEvent reports the extraction of one layer: Current bytes of Total (compressed) read.
type UnpackEvent struct {
	Layer          digest.Digest
	Current, Total int64
	Done, Existed  bool
}

// RegisterOptions name the image being registered.
type RegisterOptions struct {
	Tags       []reference.Named // tags to point at the image
	RepoDigest string            // "name@sha256:…" the manifest (or its index) was pulled by
	Progress   func(UnpackEvent) // called while layers are extracted (may be nil)
}

// Register makes an image of a manifest whose config and layers are in the content store: each
// layer is unpacked (gzip, zstd or plain tar, its diff ID verified) into a committed snapshot
// named by its chain ID, then the image is recorded and tagged. It returns the image ID.
func (s *Service) Register(ctx context.Context, manifest digest.Digest, opts RegisterOptions) (digest.Digest, error) {
	defer s.Lease()()
	p, err := s.unpackImage(ctx, manifest, opts)
	if err != nil {
		return "", err
	}
	return p.rec.ID, s.recordImages([]pendingImage{p})
}

// pendingImage is an image whose layers are unpacked, not yet recorded.
type pendingImage struct {
	rec  Record
	opts RegisterOptions
}

// unpackImage unpacks the layers of a manifest whose config and layers are in the content store.
func (s *Service) unpackImage(ctx context.Context, manifest digest.Digest, opts RegisterOptions) (pendingImage, error) {
	m, err := s.ReadManifest(manifest)
	if err != nil {
		return pendingImage{}, err
	}
	cfgBytes, err := s.readBlob(m.Config.Digest)
	if err != nil {
		return pendingImage{}, err
	}
	var img ocispec.Image
	if err := json.Unmarshal(cfgBytes, &img); err != nil {
		return pendingImage{}, errdefs.InvalidArgument(fmt.Errorf("image config %s: %w", m.Config.Digest, err))
	}
	if len(img.RootFS.DiffIDs) != len(m.Layers) {
		return pendingImage{}, errdefs.InvalidArgument(fmt.Errorf("manifest %s has %d layers but its config %d diff IDs", manifest, len(m.Layers), len(img.RootFS.DiffIDs)))
	}
	if len(img.RootFS.DiffIDs) == 0 {
		return pendingImage{}, errdefs.InvalidArgument(fmt.Errorf("image %s has no layers", m.Config.Digest))
	}
	var size int64
	parent := ""
	for i, l := range m.Layers {
		chain := identity.ChainID(img.RootFS.DiffIDs[:i+1])
		n, existed, err := s.unpackLayer(ctx, l, img.RootFS.DiffIDs[i], parent, chain, opts.Progress)
		if err != nil {
			return pendingImage{}, err
		}
		if opts.Progress != nil {
			opts.Progress(UnpackEvent{Layer: l.Digest, Done: true, Existed: existed})
		}
		size += n
		parent = chain.String()
	}
	created := time.Now().UTC()
	if img.Created != nil {
		created = *img.Created
	}
	rec := Record{ID: m.Config.Digest, Manifest: manifest, ChainID: identity.ChainID(img.RootFS.DiffIDs), Created: created, Size: size}
	return pendingImage{rec: rec, opts: opts}, nil
}

// recordImages records and tags unpacked images, all in one transaction.
func (s *Service) recordImages(images []pendingImage) error {
	now := time.Now().UTC()
	return s.store.db.Update(func(tx *bolt.Tx) error {
		for _, p := range images {
			rec, ok := getRecord(tx, p.rec.ID)
			if !ok {
				rec = p.rec
			}
			if p.opts.RepoDigest != "" && !contains(rec.RepoDigests, p.opts.RepoDigest) {
				rec.RepoDigests = append(rec.RepoDigests, p.opts.RepoDigest)
			}
			for _, t := range p.opts.Tags {
				rec.LastTagTime = now
				if err := tx.Bucket(bucketTags).Put([]byte(t.String()), []byte(rec.ID)); err != nil {
					return err
				}
			}
			if err := putRecord(tx, rec); err != nil {
				return err
			}
		}
		return nil
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// HasImage reports whether an image with this config digest is recorded.
func (s *Service) HasImage(id digest.Digest) bool {
	found := false
	s.store.db.View(func(tx *bolt.Tx) error {
		_, found = getRecord(tx, id)
		return nil
	})
	return found
}

// HasLayer reports whether the snapshot of a chain ID is committed already.
func (s *Service) HasLayer(ctx context.Context, chain digest.Digest) bool {
	_, err := s.snaps.Stat(ctx, chain.String())
	return err == nil
}

// unpackLayer applies a (possibly compressed) layer blob onto parent as chain.
// UnpackLayer unpacks layer i of an image (its blob already in the content store) onto the
// layers below it, unless that layer chain exists (existed). A pull calls it for each layer as
// soon as that layer and those below it are in, so unpacking overlaps the downloads; Register
// then finds every layer in place.
func (s *Service) UnpackLayer(ctx context.Context, l ocispec.Descriptor, diffIDs []digest.Digest, i int, progress func(UnpackEvent)) (existed bool, err error) {
	parent := ""
	if i > 0 {
		parent = identity.ChainID(diffIDs[:i]).String()
	}
	_, existed, err = s.unpackLayer(ctx, l, diffIDs[i], parent, identity.ChainID(diffIDs[:i+1]), progress)
	return existed, err
}

func (s *Service) unpackLayer(ctx context.Context, l ocispec.Descriptor, diffID digest.Digest, parent string, chain digest.Digest, progress func(UnpackEvent)) (int64, bool, error) {
	if _, err := s.snaps.Stat(ctx, chain.String()); err == nil {
		size, _ := s.snaps.Size(ctx, chain.String())
		return size, true, nil
	}
	key := extractPrefix + randomHex()
	mounts, err := s.snaps.Prepare(ctx, key, parent)
	if err != nil {
		return 0, false, err
	}
	committed := false
	defer func() {
		if !committed {
			s.snaps.Remove(context.WithoutCancel(ctx), key)
		}
	}()
	target, err := os.MkdirTemp(filepath.Join(s.root, "tmp"), "unpack-")
	if err != nil {
		return 0, false, err
	}
	defer os.Remove(target)
	if err := snapshot.MountAll(mounts, target); err != nil {
		return 0, false, err
	}
	n, err := s.applyBlob(ctx, target, l, diffID, progress)
	if uerr := snapshot.Unmount(target); err == nil {
		err = uerr
	}
	if err != nil {
		return 0, false, err
	}
	if err := s.snaps.Commit(ctx, chain.String(), key); err != nil {
		return 0, false, err
	}
	committed = true
	return n, false, nil
}

func (s *Service) applyBlob(ctx context.Context, target string, l ocispec.Descriptor, diffID digest.Digest, progress func(UnpackEvent)) (int64, error) {
	blob, err := s.content.Open(l.Digest)
	if err != nil {
		return 0, err
	}
	defer blob.Close()
	var r io.Reader = blob
	if progress != nil {
		r = &progressReader{r: blob, fn: func(n int64) { progress(UnpackEvent{Layer: l.Digest, Current: n, Total: l.Size}) }}
	}
	br := bufio.NewReaderSize(r, 64<<10)
	var tarStream io.Reader = br
	magic, _ := br.Peek(4)
	switch {
	case strings.HasSuffix(l.MediaType, "zstd") || (len(magic) == 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd):
		zr, err := newZstdReader(br)
		if err != nil {
			return 0, errdefs.InvalidArgument(fmt.Errorf("layer %s: zstd: %w", l.Digest, err))
		}
		defer zr.Close()
		tarStream = zr
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return 0, errdefs.InvalidArgument(fmt.Errorf("layer %s: gzip: %w", l.Digest, err))
		}
		defer zr.Close()
		tarStream = zr
	}
	if tarStream == io.Reader(br) && l.Digest == diffID {
		// An uncompressed layer's diff ID is its blob's digest, which the content store checked
		// as the blob was written: hashing it again would only cost time.
		n, err := archive.Apply(ctx, target, tarStream, archive.ApplyOptions{Whiteouts: s.whiteouts})
		if err != nil {
			return 0, errdefs.InvalidArgument(fmt.Errorf("apply layer %s: %w", l.Digest, err))
		}
		return n, nil
	}
	h := diffID.Algorithm().Digester()
	n, err := archive.Apply(ctx, target, io.TeeReader(tarStream, h.Hash()), archive.ApplyOptions{Whiteouts: s.whiteouts})
	if err != nil {
		return 0, errdefs.InvalidArgument(fmt.Errorf("apply layer %s: %w", l.Digest, err))
	}
	// The tar may end before its stream: read the padding so the diff ID covers it all.
	io.Copy(h.Hash(), tarStream)
	if got := h.Digest(); got != diffID {
		return 0, errdefs.InvalidArgument(fmt.Errorf("layer %s: diff ID %s does not match the config's %s", l.Digest, got, diffID))
	}
	return n, nil
}

type progressReader struct {
	r    io.Reader
	n    int64
	last int64
	fn   func(int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if p.n-p.last >= 512<<10 || err == io.EOF {
		p.last = p.n
		p.fn(p.n)
	}
	return n, err
}

// Get finds an image's record by name, ID or digest reference.
func (s *Service) Get(ctx context.Context, name string) (Record, error) {
	var r Record
	err := s.store.db.View(func(tx *bolt.Tx) error {
		var err error
		r, err = resolve(tx, name)
		return err
	})
	return r, err
}

// TagsOfRepository lists the tags of a repository ("docker.io/library/busybox"), sorted.
func (s *Service) TagsOfRepository(repo reference.Named) []reference.NamedTagged {
	var out []reference.NamedTagged
	s.store.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTags).ForEach(func(k, v []byte) error {
			n, err := reference.ParseNormalizedNamed(string(k))
			if err != nil || n.Name() != repo.Name() {
				return nil
			}
			if t, ok := n.(reference.NamedTagged); ok {
				out = append(out, t)
			}
			return nil
		})
	})
	return out
}

// AddRepoDigest records that an image is known to a registry by "name@digest" (after a push).
func (s *Service) AddRepoDigest(id digest.Digest, repoDigest string) error {
	return s.store.db.Update(func(tx *bolt.Tx) error {
		r, ok := getRecord(tx, id)
		if !ok || contains(r.RepoDigests, repoDigest) {
			return nil
		}
		// One digest per repository: a newer push replaces the older.
		n, err := reference.ParseNormalizedNamed(repoDigest)
		if err != nil {
			return err
		}
		kept := r.RepoDigests[:0]
		for _, d := range r.RepoDigests {
			if o, err := reference.ParseNormalizedNamed(d); err == nil && o.Name() == n.Name() {
				continue
			}
			kept = append(kept, d)
		}
		r.RepoDigests = append(kept, repoDigest)
		return putRecord(tx, r)
	})
}
