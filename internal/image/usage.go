package image

import (
	"context"
	"encoding/json"

	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"
)

// Usage is the disk space one image takes: Size counts its blobs (manifest, config, layers as
// stored) and its unpacked layers; Shared is the part another image uses too.
type Usage struct {
	Size   int64
	Shared int64
}

// DiskUsage measures every image (by ID) and the space all of them take together, each blob and
// snapshot counted once: the figure `du` gives for the content store and the images' snapshots.
func (s *Service) DiskUsage(ctx context.Context) (map[digest.Digest]Usage, int64, error) {
	var records []Record
	err := s.store.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketImages).ForEach(func(k, v []byte) error {
			var r Record
			if json.Unmarshal(v, &r) == nil {
				records = append(records, r)
			}
			return nil
		})
	})
	if err != nil {
		return nil, 0, err
	}
	// A part is a blob or a snapshot; both can carry the same digest (an uncompressed layer's
	// blob and its first chain ID), so the key says which.
	type part struct {
		snapshot bool
		d        digest.Digest
	}
	partsOf := map[digest.Digest][]part{}
	users := map[part]int{}
	sizes := map[part]int64{}
	for _, r := range records {
		blobs, chains := s.parts(r)
		seen := map[part]bool{}
		var ps []part
		for _, b := range blobs {
			ps = append(ps, part{d: b})
		}
		for _, c := range chains {
			ps = append(ps, part{snapshot: true, d: c})
		}
		for _, p := range ps {
			if seen[p] {
				continue
			}
			seen[p] = true
			partsOf[r.ID] = append(partsOf[r.ID], p)
			users[p]++
			if _, ok := sizes[p]; ok {
				continue
			}
			if p.snapshot {
				sizes[p], _ = s.snaps.Size(ctx, p.d.String())
			} else if info, err := s.content.Stat(p.d); err == nil {
				sizes[p] = info.Size
			}
		}
	}
	out := map[digest.Digest]Usage{}
	for id, ps := range partsOf {
		var u Usage
		for _, p := range ps {
			u.Size += sizes[p]
			if users[p] > 1 {
				u.Shared += sizes[p]
			}
		}
		out[id] = u
	}
	var total int64
	for _, n := range sizes {
		total += n
	}
	return out, total, nil
}
