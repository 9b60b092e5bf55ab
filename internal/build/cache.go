package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	buildtypes "github.com/moby/moby/api/types/build"

	"github.com/berthproject/berth/internal/metadata"
	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"
)

// Cache remembers which image each build step made. A step's key is the digest of its parent
// image, its instruction, the build args it sees and the checksums of what it copies; the
// parent's ID covers the configuration (ENV, WORKDIR...) the step runs with.
//
// Schema (bbolt, <root>/cache.db): bucket "steps": key (hex sha256) -> JSON cacheEntry.
type Cache struct {
	db      *bolt.DB
	mounts  string // RUN --mount=type=cache directories, one per cache id
	backend Backend
	mu      sync.RWMutex // builds (readers) against prune
}

type cacheEntry struct {
	Image   digest.Digest `json:"image"`
	Created time.Time     `json:"created"`
}

var bucketSteps = []byte("steps")

func openCache(root string, b Backend) (*Cache, error) {
	db, err := metadata.Open(filepath.Join(root, "cache.db"), "1", bucketSteps)
	if err != nil {
		return nil, err
	}
	return &Cache{db: db, mounts: filepath.Join(root, "cache-mounts"), backend: b}, nil
}

// stepKey digests the parts of a step that decide its result.
func stepKey(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// get returns the image a step made before, if it is still there.
func (c *Cache) get(key string) (digest.Digest, bool) {
	var e cacheEntry
	c.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketSteps).Get([]byte(key)); v != nil {
			json.Unmarshal(v, &e)
		}
		return nil
	})
	if e.Image == "" || !c.backend.HasImage(e.Image) {
		return "", false
	}
	return e.Image, true
}

func (c *Cache) put(key string, id digest.Digest) error {
	now := time.Now().UTC()
	b, err := json.Marshal(cacheEntry{Image: id, Created: now})
	if err != nil {
		return err
	}
	return c.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketSteps).Put([]byte(key), b) })
}

// Usage counts the cache's records (steps and cache mounts) and the bytes that only the cache
// holds: the layers of untagged step images and the cache mounts' files.
func (c *Cache) Usage(ctx context.Context) (records int, size int64, err error) {
	recs, err := c.Records(ctx)
	for _, r := range recs {
		if !r.Shared {
			size += r.Size
		}
	}
	return len(recs), size, err
}

// Records lists the cache as `system df -v` shows a build cache: one record per cached step
// whose image still exists (shared when a tagged image holds its layer, so it frees nothing) and
// one per RUN --mount=type=cache directory.
func (c *Cache) Records(ctx context.Context) ([]buildtypes.CacheRecord, error) {
	recs, err := c.backend.BuildRecords(ctx)
	if err != nil {
		return nil, err
	}
	var out []buildtypes.CacheRecord
	err = c.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSteps).ForEach(func(k, v []byte) error {
			var e cacheEntry
			if json.Unmarshal(v, &e) != nil {
				return nil
			}
			if r, ok := recs[e.Image]; ok {
				out = append(out, buildtypes.CacheRecord{ID: short(string(k), 25), Type: "regular", Size: r.LayerSize,
					Shared: r.Tagged, CreatedAt: e.Created, LastUsedAt: &e.Created,
					Description: "step image " + short(e.Image.Encoded(), 12)})
			}
			return nil
		})
	})
	mounts, _ := os.ReadDir(c.mounts)
	for _, m := range mounts {
		info, ierr := m.Info()
		if ierr != nil {
			continue
		}
		out = append(out, buildtypes.CacheRecord{ID: m.Name(), Type: "exec.cachemount",
			Size: dirSize(filepath.Join(c.mounts, m.Name())), CreatedAt: info.ModTime(),
			Description: "cache mount " + m.Name()})
	}
	return out, err
}

// Prune empties the cache: the cache mounts and the records of steps, with the untagged step
// images nothing else is built on. Without all, steps that lead to a tagged image are kept
// (they are what a rebuild of it reuses).
func (c *Cache) Prune(ctx context.Context, all bool) (reclaimed int64, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	recs, err := c.backend.BuildRecords(ctx)
	if err != nil {
		return 0, err
	}
	// Images below a tagged one are in use unless all.
	used := map[digest.Digest]bool{}
	if !all {
		for _, r := range recs {
			if !r.Tagged {
				continue
			}
			for id := r.ID; id != ""; id = recs[id].Parent {
				if used[id] {
					break
				}
				used[id] = true
				if _, ok := recs[id]; !ok {
					break
				}
			}
		}
	}
	var keys [][]byte
	images := map[digest.Digest]bool{}
	c.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSteps).ForEach(func(k, v []byte) error {
			var e cacheEntry
			json.Unmarshal(v, &e)
			if !used[e.Image] {
				keys = append(keys, append([]byte{}, k...))
				images[e.Image] = true
			}
			return nil
		})
	})
	if err := c.db.Update(func(tx *bolt.Tx) error {
		for _, k := range keys {
			if err := tx.Bucket(bucketSteps).Delete(k); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return 0, err
	}
	// Leaves first: an image is removable once no other is built on it (removing one may take
	// its untagged parents with it; what is gone is counted at the end).
	pending := map[digest.Digest]bool{}
	for id := range images {
		if r, ok := recs[id]; ok && !r.Tagged {
			pending[id] = true
		}
	}
	for removed := true; removed; {
		removed = false
		for id := range pending {
			if !c.backend.HasImage(id) || c.backend.RemoveImage(ctx, id) == nil {
				delete(pending, id)
				removed = true
			}
		}
	}
	for id, r := range recs {
		if !r.Tagged && !c.backend.HasImage(id) {
			reclaimed += r.LayerSize
		}
	}
	mounts, _ := os.ReadDir(c.mounts)
	for _, m := range mounts {
		p := filepath.Join(c.mounts, m.Name())
		reclaimed += dirSize(p)
		os.RemoveAll(p)
	}
	return reclaimed, nil
}

func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// short is s cut to n bytes, as ids are shown.
func short(s string, n int) string { return s[:min(len(s), n)] }
