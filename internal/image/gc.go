package image

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/berthproject/berth/internal/content"
	"github.com/berthproject/berth/internal/snapshot"
	"github.com/opencontainers/go-digest"
)

// Lease marks an operation that writes blobs and layers before its image is recorded (a pull,
// a load): while one is held, PruneUnreferenced leaves everything alone. Call the result when done.
func (s *Service) Lease() (release func()) {
	s.leaseMu.Lock()
	s.leases++
	s.leaseMu.Unlock()
	return func() {
		s.leaseMu.Lock()
		s.leases--
		s.leaseMu.Unlock()
	}
}

// recoverInterrupted undoes what a daemon killed while unpacking left: the extraction mounts under
// tmp/ and their half-written (active) snapshots. Layers already committed and verified blobs
// stay, so the next pull of the image only fetches what is missing.
func (s *Service) recoverInterrupted(ctx context.Context) {
	tmp := filepath.Join(s.root, "tmp")
	if ents, err := os.ReadDir(tmp); err == nil {
		for _, e := range ents {
			p := filepath.Join(tmp, e.Name())
			if err := snapshot.Unmount(p); err != nil {
				continue // still mounted: never remove through a mount
			}
			os.RemoveAll(p)
		}
	}
	var stale []string
	s.snaps.Walk(ctx, func(i snapshot.Info) error {
		if i.Kind == snapshot.KindActive && strings.HasPrefix(i.Key, extractPrefix) {
			stale = append(stale, i.Key)
		}
		return nil
	})
	for _, key := range stale {
		s.snaps.Remove(ctx, key)
	}
}

// PruneUnreferenced removes the blobs and layer snapshots no image uses: what an interrupted or
// failed pull or load kept (to resume from), or a layer whose image is gone. A layer another
// snapshot (a container's) is built on stays. It returns the bytes freed; with a pull or load
// in progress it does nothing.
func (s *Service) PruneUnreferenced(ctx context.Context) int64 {
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	if s.leases > 0 {
		return 0
	}
	return s.sweep(ctx, func(digest.Digest) bool { return true })
}

// sweep removes the blobs and committed layer snapshots that no image uses and candidate selects.
func (s *Service) sweep(ctx context.Context, candidate func(digest.Digest) bool) int64 {
	used := map[digest.Digest]bool{}
	for _, r := range s.records() {
		blobs, chains := s.parts(r)
		for _, d := range append(blobs, chains...) {
			used[d] = true
		}
	}
	var freed int64
	var blobs []content.Info
	s.content.Walk(func(i content.Info) error {
		if !used[i.Digest] && candidate(i.Digest) {
			blobs = append(blobs, i)
		}
		return nil
	})
	for _, b := range blobs {
		if s.content.Delete(b.Digest) == nil {
			freed += b.Size
		}
	}
	// Layers are named by chain ID; a child goes before its parent, so repeat until none goes.
	for {
		var layers []string
		s.snaps.Walk(ctx, func(i snapshot.Info) error {
			d := digest.Digest(i.Key)
			if i.Kind == snapshot.KindCommitted && d.Validate() == nil && !used[d] && candidate(d) {
				layers = append(layers, i.Key)
			}
			return nil
		})
		removed := false
		for _, key := range layers {
			size, _ := s.snaps.Size(ctx, key)
			if s.snaps.Remove(ctx, key) == nil {
				freed += size
				removed = true
			}
		}
		if !removed {
			return freed
		}
	}
}
