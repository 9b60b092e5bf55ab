package image

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/berthproject/berth/internal/archive"
	"github.com/berthproject/berth/internal/content"
	"github.com/berthproject/berth/internal/errdefs"
	"github.com/berthproject/berth/internal/snapshot"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"
)

// Service manages images: records and tags (bbolt), blobs (content store), unpacked layers
// (snapshotter).
type Service struct {
	root      string
	content   *content.Store
	snaps     snapshot.Snapshotter
	whiteouts archive.WhiteoutMode
	store     *store

	leaseMu sync.Mutex
	leases  int // pulls and loads in progress (see Lease)
}

// New opens the image service rooted at root, sharing the content store and snapshotter.
func New(root string, cs *content.Store, snaps snapshot.Snapshotter, whiteouts archive.WhiteoutMode) (*Service, error) {
	if err := os.MkdirAll(filepath.Join(root, "tmp"), 0o700); err != nil {
		return nil, err
	}
	st, err := openStore(root)
	if err != nil {
		return nil, err
	}
	s := &Service{root: root, content: cs, snaps: snaps, whiteouts: whiteouts, store: st}
	s.recoverInterrupted(context.Background())
	return s, nil
}

// Close releases the metadata store.
func (s *Service) Close() error { return s.store.db.Close() }

// ImportOptions are `docker import`'s: the reference to tag, a commit message and Dockerfile
// instructions to apply to the config.
type ImportOptions struct {
	Ref     string
	Message string
	Changes []string
}

// Import makes a one-layer image from a filesystem tar (plain, gzip or bzip2).
func (s *Service) Import(ctx context.Context, r io.Reader, opts ImportOptions) (digest.Digest, error) {
	defer s.Lease()()
	var ref reference.Named
	if opts.Ref != "" {
		var err error
		if ref, err = ParseReference(opts.Ref); err != nil {
			return "", err
		}
	}
	cfg, err := applyChanges(ocispec.ImageConfig{}, opts.Changes)
	if err != nil {
		return "", err
	}
	tarStream, err := archive.Decompress(r)
	if err != nil {
		return "", err
	}
	layer, err := s.content.Write(ctx, tarStream, "", -1)
	if err != nil {
		return "", fmt.Errorf("store layer: %w", err)
	}
	diffID := layer.Digest
	size, err := s.unpack(ctx, diffID, "", diffID)
	if err != nil {
		return "", err
	}
	now := time.Now().UTC()
	comment := "Imported from -"
	if opts.Message != "" {
		comment = opts.Message
	}
	img := ocispec.Image{
		Created:  &now,
		Platform: ocispec.Platform{Architecture: runtime.GOARCH, OS: "linux"},
		Config:   cfg,
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}},
		History:  []ocispec.History{{Created: &now, Comment: comment}},
	}
	layers := []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayer, Digest: layer.Digest, Size: layer.Size}}
	return s.writeImage(ctx, img, layers, Record{ChainID: diffID, Created: now, Size: size}, ref)
}

// unpack applies the layer blob onto a snapshot of parent, committed as chainID, unless that
// snapshot exists already. It returns the layer's unpacked size.
func (s *Service) unpack(ctx context.Context, layer digest.Digest, parent string, chainID digest.Digest) (int64, error) {
	if _, err := s.snaps.Stat(ctx, chainID.String()); err == nil {
		info, _ := s.content.Stat(layer)
		return info.Size, nil
	}
	key := extractPrefix + randomHex()
	mounts, err := s.snaps.Prepare(ctx, key, parent)
	if err != nil {
		return 0, err
	}
	committed := false
	defer func() {
		if !committed {
			s.snaps.Remove(context.WithoutCancel(ctx), key)
		}
	}()
	target, err := os.MkdirTemp(filepath.Join(s.root, "tmp"), "unpack-")
	if err != nil {
		return 0, err
	}
	defer os.Remove(target)
	if err := snapshot.MountAll(mounts, target); err != nil {
		return 0, err
	}
	blob, err := s.content.Open(layer)
	if err != nil {
		snapshot.Unmount(target)
		return 0, err
	}
	whiteouts := s.whiteouts
	if parent != "" && whiteouts == archive.WhiteoutOverlay {
		// Applied through the overlay mount: overlayfs itself records a removal as a whiteout
		// (a whiteout device cannot be made through an overlay mount).
		whiteouts = archive.WhiteoutRemove
	}
	n, err := archive.Apply(ctx, target, bufio.NewReader(blob), archive.ApplyOptions{Whiteouts: whiteouts})
	blob.Close()
	if uerr := snapshot.Unmount(target); err == nil {
		err = uerr
	}
	if err != nil {
		return 0, errdefs.InvalidArgument(fmt.Errorf("apply layer %s: %w", layer, err))
	}
	if err := s.snaps.Commit(ctx, chainID.String(), key); err != nil {
		return 0, err
	}
	committed = true
	return n, nil
}

func randomHex() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// writeImage stores an image's config (an ocispec.Image, or Docker's extension of it) and manifest (over layers already in the content store)
// and then its record, tagged ref when given: the record comes last, so an interrupted write
// leaves no visible image. rec brings the chain ID, creation time and size.
func (s *Service) writeImage(ctx context.Context, img any, layers []ocispec.Descriptor, rec Record, ref interface{ String() string }) (digest.Digest, error) {
	cfgJSON, err := json.Marshal(img)
	if err != nil {
		return "", err
	}
	cfgInfo, err := s.content.Write(ctx, bytes.NewReader(cfgJSON), "", -1)
	if err != nil {
		return "", err
	}
	manifest := ocispec.Manifest{
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: cfgInfo.Digest, Size: cfgInfo.Size},
		Layers:    layers,
	}
	manifest.SchemaVersion = 2
	mJSON, err := json.Marshal(manifest)
	if err != nil {
		return "", err
	}
	mInfo, err := s.content.Write(ctx, bytes.NewReader(mJSON), "", -1)
	if err != nil {
		return "", err
	}
	rec.ID, rec.Manifest = cfgInfo.Digest, mInfo.Digest
	err = s.store.db.Update(func(tx *bolt.Tx) error {
		if ref != nil {
			rec.LastTagTime = rec.Created
			if err := tx.Bucket(bucketTags).Put([]byte(ref.String()), []byte(rec.ID)); err != nil {
				return err
			}
		}
		return putRecord(tx, rec)
	})
	return rec.ID, err
}
