package image

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"
)

// StepOptions describe the image one build step makes over Parent.
type StepOptions struct {
	Parent    digest.Digest                   // "" for a step over `FROM scratch`
	Layer     io.Reader                       // the step's layer tar (uncompressed); nil when it only changes the config
	Config    dockerspec.DockerOCIImageConfig // the configuration after the step (with HEALTHCHECK, ONBUILD, SHELL)
	CreatedBy string                          // the history entry's command
	Author    string                          // MAINTAINER
}

// BuildStep records the image of a build step: the parent's layers plus the step's layer (if
// any), the new config and one more history entry. The record names its parent, so intermediate
// images stay out of `images` while they have a child and can be released with it.
func (s *Service) BuildStep(ctx context.Context, o StepOptions) (digest.Digest, error) {
	now := time.Now().UTC()
	img := ocispec.Image{Platform: ocispec.Platform{Architecture: runtime.GOARCH, OS: "linux"}, RootFS: ocispec.RootFS{Type: "layers"}}
	var layers []ocispec.Descriptor
	var parent Record
	if o.Parent != "" {
		if err := s.store.db.View(func(tx *bolt.Tx) error {
			r, ok := getRecord(tx, o.Parent)
			if !ok {
				return fmt.Errorf("parent image %s not found", o.Parent)
			}
			parent = r
			return nil
		}); err != nil {
			return "", err
		}
		var err error
		if img, err = s.config(parent.ID); err != nil {
			return "", err
		}
		var pman ocispec.Manifest
		if err := s.readJSON(parent.Manifest, &pman); err != nil {
			return "", err
		}
		layers = append(layers, pman.Layers...)
	}
	rec := Record{ChainID: parent.ChainID, Created: now, Size: parent.Size, Parent: o.Parent}
	hist := ocispec.History{Created: &now, CreatedBy: o.CreatedBy, Author: o.Author, EmptyLayer: o.Layer == nil}
	img.RootFS.DiffIDs = append([]digest.Digest{}, img.RootFS.DiffIDs...)
	if o.Layer != nil {
		layer, err := s.content.Write(ctx, o.Layer, "", -1)
		if err != nil {
			return "", fmt.Errorf("store layer: %w", err)
		}
		chain := chainID(parent.ChainID, layer.Digest)
		size, err := s.unpack(ctx, layer.Digest, parent.ChainID.String(), chain)
		if err != nil {
			return "", err
		}
		rec.ChainID, rec.Size = chain, parent.Size+size
		img.RootFS.DiffIDs = append(img.RootFS.DiffIDs, layer.Digest)
		layers = append(layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: layer.Digest, Size: layer.Size})
	}
	img.Created = &now
	if o.Author != "" {
		img.Author = o.Author
	}
	img.History = append(append([]ocispec.History{}, img.History...), hist)
	full := dockerspec.DockerOCIImage{Image: img, Config: o.Config}
	full.Image.Config = o.Config.ImageConfig
	return s.writeImage(ctx, full, layers, rec, nil)
}

// Scratch records the empty image `FROM scratch` starts from. Its config has no date, so it is
// the same image every time.
func (s *Service) Scratch(ctx context.Context) (digest.Digest, error) {
	img := ocispec.Image{Platform: ocispec.Platform{Architecture: runtime.GOARCH, OS: "linux"}, RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{}}}
	b, err := json.Marshal(img)
	if err != nil {
		return "", err
	}
	if s.HasImage(digest.FromBytes(b)) {
		return digest.FromBytes(b), nil
	}
	return s.writeImage(ctx, img, []ocispec.Descriptor{}, Record{Created: time.Unix(0, 0).UTC(), Parent: scratchParent}, nil)
}

// scratchParent marks the scratch image as an intermediate one: never listed.
const scratchParent = digest.Digest("scratch")

// Config returns an image's config with Docker's extensions (HEALTHCHECK, ONBUILD, SHELL).
func (s *Service) Config(ctx context.Context, id digest.Digest) (dockerspec.DockerOCIImage, error) {
	var img dockerspec.DockerOCIImage
	err := s.readJSON(id, &img)
	return img, err
}

// dockerConfig is the image's configuration with Docker's extensions, base when it cannot be
// read again.
func (s *Service) dockerConfig(id digest.Digest, base ocispec.ImageConfig) *dockerspec.DockerOCIImageConfig {
	img, err := s.Config(context.Background(), id)
	if err != nil {
		return &dockerspec.DockerOCIImageConfig{ImageConfig: base}
	}
	return &img.Config
}

// Intermediate reports whether an image is one that is hidden from `images`: an untagged build
// step that another image is built on.
func intermediate(tx *bolt.Tx, r Record, children map[digest.Digest]int) bool {
	if r.Parent == "" || len(tagsOf(tx, r.ID)) > 0 {
		return false
	}
	return r.Parent == scratchParent || children[r.ID] > 0
}

// childCounts counts the records built on each image.
func childCounts(tx *bolt.Tx) map[digest.Digest]int {
	out := map[digest.Digest]int{}
	tx.Bucket(bucketImages).ForEach(func(k, v []byte) error {
		var r Record
		if json.Unmarshal(v, &r) == nil && r.Parent != "" {
			out[r.Parent]++
		}
		return nil
	})
	return out
}

// BuildRecord is what the build cache needs to know of an image it recorded.
type BuildRecord struct {
	ID, Parent digest.Digest
	Tagged     bool
	Children   int
	LayerSize  int64 // its own layer's unpacked size
}

// BuildRecords lists images built as steps (those with a parent), for the build cache's usage
// and prune.
func (s *Service) BuildRecords(ctx context.Context) (map[digest.Digest]BuildRecord, error) {
	out := map[digest.Digest]BuildRecord{}
	err := s.store.db.View(func(tx *bolt.Tx) error {
		children := childCounts(tx)
		sizes := map[digest.Digest]int64{}
		var recs []Record
		err := tx.Bucket(bucketImages).ForEach(func(k, v []byte) error {
			var r Record
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			sizes[r.ID] = r.Size
			if r.Parent != "" {
				recs = append(recs, r)
			}
			return nil
		})
		for _, r := range recs {
			out[r.ID] = BuildRecord{ID: r.ID, Parent: r.Parent, Tagged: len(tagsOf(tx, r.ID)) > 0, Children: children[r.ID],
				LayerSize: r.Size - sizes[r.Parent]}
		}
		return err
	})
	return out, err
}
