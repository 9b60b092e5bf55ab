package image

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/berthproject/berth/internal/content"
	"github.com/berthproject/berth/internal/snapshot"
	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// records lists every image record.
func (s *Service) records() []Record {
	var out []Record
	s.store.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketImages).ForEach(func(k, v []byte) error {
			var r Record
			if json.Unmarshal(v, &r) == nil {
				out = append(out, r)
			}
			return nil
		})
	})
	return out
}

// extractPrefix keys the active snapshot a layer is unpacked into before it is committed.
const extractPrefix = "extract-"

// removeLeftovers undoes what a daemon killed during an import, commit, pull or load left
// behind, before anything is served: the mounts of unpacks cut short, their active snapshots,
// then every committed snapshot and blob that no image record names. An image is recorded last,
// so none of this was ever visible; this only gives the disk space back.
func (s *Service) removeLeftovers(ctx context.Context) error {
	tmp := filepath.Join(s.root, "tmp")
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return err
	}
	for _, e := range entries {
		dir := filepath.Join(tmp, e.Name())
		for unix.Unmount(dir, unix.MNT_DETACH) == nil {
		}
		// Remove, never RemoveAll: were something still mounted there, its content stays.
		if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	used := map[digest.Digest]bool{}
	for _, r := range s.records() {
		blobs, chains := s.parts(r)
		for _, d := range append(blobs, chains...) {
			used[d] = true
		}
	}
	var infos []snapshot.Info
	if err := s.snaps.Walk(ctx, func(i snapshot.Info) error { infos = append(infos, i); return nil }); err != nil {
		return err
	}
	for _, i := range infos {
		if i.Kind == snapshot.KindActive && strings.HasPrefix(i.Key, extractPrefix) {
			if err := s.snaps.Remove(ctx, i.Key); err != nil {
				return err
			}
		}
	}
	// Unnamed layers go top first: the snapshotter refuses to remove a parent.
	gone := map[string]bool{}
	for removed := true; removed; {
		removed = false
		for _, i := range infos {
			if i.Kind != snapshot.KindCommitted || used[digest.Digest(i.Key)] || gone[i.Key] {
				continue
			}
			if err := s.snaps.Remove(ctx, i.Key); err == nil {
				gone[i.Key], removed = true, true
			}
		}
	}
	var unused []digest.Digest
	if err := s.content.Walk(func(i content.Info) error {
		if !used[i.Digest] {
			unused = append(unused, i.Digest)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, d := range unused {
		if err := s.content.Delete(d); err != nil {
			return err
		}
	}
	return nil
}
