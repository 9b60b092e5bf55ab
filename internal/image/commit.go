package image

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"
)

// CommitOptions describe an image made from a container (docker commit): the layer goes on top
// of Parent's chain.
type CommitOptions struct {
	Parent    digest.Digest       // the container's image ID
	Ref       string              // repository[:tag], or ""
	Config    ocispec.ImageConfig // the container's configuration, before Changes
	Changes   []string
	Author    string
	Comment   string
	CreatedBy string // the history entry's command
}

// chainID is the OCI chain ID of a layer on top of parent's chain.
func chainID(parent, diffID digest.Digest) digest.Digest {
	if parent == "" {
		return diffID
	}
	return digest.FromString(parent.String() + " " + diffID.String())
}

// Commit adds the layer tar (uncompressed) on top of the parent image and records the new image,
// its history one entry longer. Nothing is visible until the record is written, last.
func (s *Service) Commit(ctx context.Context, layerTar io.Reader, opts CommitOptions) (digest.Digest, error) {
	defer s.Lease()()
	ref, err := parseOptionalRef(opts.Ref)
	if err != nil {
		return "", err
	}
	var parent Record
	if err := s.store.db.View(func(tx *bolt.Tx) error {
		r, ok := getRecord(tx, opts.Parent)
		if !ok {
			return fmt.Errorf("parent image %s not found", opts.Parent)
		}
		parent = r
		return nil
	}); err != nil {
		return "", err
	}
	pimg, err := s.config(parent.ID)
	if err != nil {
		return "", err
	}
	var pman ocispec.Manifest
	if err := s.readJSON(parent.Manifest, &pman); err != nil {
		return "", err
	}
	cfg, err := applyChanges(opts.Config, opts.Changes)
	if err != nil {
		return "", err
	}
	layer, err := s.content.Write(ctx, layerTar, "", -1)
	if err != nil {
		return "", fmt.Errorf("store layer: %w", err)
	}
	diffID := layer.Digest
	chain := chainID(parent.ChainID, diffID)
	size, err := s.unpack(ctx, diffID, parent.ChainID.String(), chain)
	if err != nil {
		return "", err
	}
	now := time.Now().UTC()
	img := pimg
	img.Created, img.Author, img.Config = &now, opts.Author, cfg
	img.RootFS.DiffIDs = append(append([]digest.Digest{}, pimg.RootFS.DiffIDs...), diffID)
	img.History = append(append([]ocispec.History{}, pimg.History...),
		ocispec.History{Created: &now, CreatedBy: opts.CreatedBy, Author: opts.Author, Comment: opts.Comment})
	layers := append(append([]ocispec.Descriptor{}, pman.Layers...),
		ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: layer.Digest, Size: layer.Size})
	return s.writeImage(ctx, img, layers, Record{ChainID: chain, Created: now, Size: parent.Size + size}, ref)
}

func (s *Service) readJSON(d digest.Digest, v any) error {
	f, err := s.content.Open(d)
	if err != nil {
		return err
	}
	defer f.Close()
	return json.NewDecoder(f).Decode(v)
}

func parseOptionalRef(s string) (interface{ String() string }, error) {
	if s == "" {
		return nil, nil
	}
	return ParseReference(s)
}
