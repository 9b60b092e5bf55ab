package image

import (
	"context"
	"encoding/json"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	bolt "go.etcd.io/bbolt"
)

// familiarAll shortens references for display ("docker.io/library/busybox@…" is "busybox@…").
func familiarAll(refs []string) []string {
	out := []string{}
	for _, r := range refs {
		out = append(out, familiar(r))
	}
	return out
}

// parts lists what an image is made of: its blobs (manifest, config, layers) and the chain IDs of
// its snapshots, bottom first.
func (s *Service) parts(r Record) (blobs []digest.Digest, chains []digest.Digest) {
	blobs = []digest.Digest{r.ID, r.Manifest}
	if m, err := s.ReadManifest(r.Manifest); err == nil {
		for _, l := range m.Layers {
			blobs = append(blobs, l.Digest)
		}
	}
	if img, err := s.config(r.ID); err == nil {
		for i := range img.RootFS.DiffIDs {
			chains = append(chains, identity.ChainID(img.RootFS.DiffIDs[:i+1]))
		}
	}
	if len(chains) == 0 {
		chains = []digest.Digest{r.ChainID}
	}
	return blobs, chains
}

// release removes the blobs and snapshots of a deleted image that no remaining image uses.
// A snapshot another one is built on (a container's, a layer of another image) stays.
func (s *Service) release(ctx context.Context, removed Record, _ bool) {
	used := map[digest.Digest]bool{}
	for _, o := range s.records() {
		blobs, chains := s.parts(o)
		for _, d := range append(blobs, chains...) {
			used[d] = true
		}
	}
	blobs, chains := s.parts(removed)
	for i := len(chains) - 1; i >= 0; i-- {
		if used[chains[i]] {
			break
		}
		if err := s.snaps.Remove(ctx, chains[i].String()); err != nil {
			break
		}
	}
	for _, b := range blobs {
		if !used[b] {
			s.content.Delete(b)
		}
	}
}

// byRepoDigest finds the image pulled by a digest reference ("name@sha256:…").
func byRepoDigest(tx *bolt.Tx, ref reference.Named) (Record, bool) {
	if _, ok := ref.(reference.Digested); !ok {
		return Record{}, false
	}
	var found Record
	ok := false
	tx.Bucket(bucketImages).ForEach(func(k, v []byte) error {
		var r Record
		if !ok && json.Unmarshal(v, &r) == nil && contains(r.RepoDigests, ref.String()) {
			found, ok = r, true
		}
		return nil
	})
	return found, ok
}
