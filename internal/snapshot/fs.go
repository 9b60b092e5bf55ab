package snapshot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berthproject/berth/internal/errdefs"
	"github.com/berthproject/berth/internal/metadata"
	"github.com/berthproject/berth/internal/trash"
	bolt "go.etcd.io/bbolt"
)

// Metadata schema (bbolt, root/metadata.db):
//
//	bucket "meta":      "schema" -> "1", "nextid" -> decimal counter
//	bucket "snapshots": key -> JSON Info
//
// Directories: root/snapshots/<id>/fs (the files) and, for overlay, root/snapshots/<id>/work.
const schemaVersion = "1"

var bucketSnapshots = []byte("snapshots")

type driver int

const (
	overlayDriver driver = iota
	nativeDriver
)

type fsSnapshotter struct {
	root   string
	db     *bolt.DB
	driver driver
	trash  *trash.Can
}

// NewOverlay opens an overlayfs snapshotter rooted at root.
func NewOverlay(root string) (Snapshotter, error) { return open(root, overlayDriver) }

// NewNative opens a snapshotter that makes each snapshot a full copy of its parent.
func NewNative(root string) (Snapshotter, error) { return open(root, nativeDriver) }

func open(root string, d driver) (*fsSnapshotter, error) {
	if err := os.MkdirAll(filepath.Join(root, "snapshots"), 0o700); err != nil {
		return nil, err
	}
	db, err := metadata.Open(filepath.Join(root, "metadata.db"), schemaVersion, bucketSnapshots)
	if err != nil {
		return nil, fmt.Errorf("open snapshot metadata: %w", err)
	}
	can, err := trash.Open(filepath.Join(root, "trash"))
	if err != nil {
		db.Close()
		return nil, err
	}
	s := &fsSnapshotter{root: root, db: db, driver: d, trash: can}
	if err := s.removeOrphans(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// removeOrphans deletes directories no snapshot refers to: what a crash between a metadata
// change and the matching directory change leaves behind.
func (s *fsSnapshotter) removeOrphans() error {
	known := map[string]bool{}
	if err := s.Walk(context.Background(), func(i Info) error { known[i.ID] = true; return nil }); err != nil {
		return err
	}
	ents, err := os.ReadDir(filepath.Join(s.root, "snapshots"))
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !known[e.Name()] {
			if err := os.RemoveAll(filepath.Join(s.root, "snapshots", e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *fsSnapshotter) Close() error {
	s.trash.Wait()
	return s.db.Close()
}

func (s *fsSnapshotter) dir(id string) string { return filepath.Join(s.root, "snapshots", id) }

func get(tx *bolt.Tx, key string) (Info, error) {
	v := tx.Bucket(bucketSnapshots).Get([]byte(key))
	if v == nil {
		return Info{}, errdefs.NotFound(fmt.Errorf("snapshot %s: not found", key))
	}
	var i Info
	return i, json.Unmarshal(v, &i)
}

func put(tx *bolt.Tx, i Info) error {
	b, err := json.Marshal(i)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketSnapshots).Put([]byte(i.Key), b)
}

func validKey(key string) error {
	if key == "" || strings.ContainsRune(key, 0) {
		return errdefs.InvalidArgument(fmt.Errorf("invalid snapshot key %q", key))
	}
	return nil
}

func (s *fsSnapshotter) Prepare(ctx context.Context, key, parent string) ([]Mount, error) {
	return s.create(ctx, KindActive, key, parent)
}

func (s *fsSnapshotter) View(ctx context.Context, key, parent string) ([]Mount, error) {
	return s.create(ctx, KindView, key, parent)
}

func (s *fsSnapshotter) create(ctx context.Context, kind Kind, key, parent string) (_ []Mount, retErr error) {
	if err := validKey(key); err != nil {
		return nil, err
	}
	var info Info
	var chain []Info
	err := s.db.Update(func(tx *bolt.Tx) error {
		if _, err := get(tx, key); err == nil {
			return errdefs.Conflict(fmt.Errorf("snapshot %s: already exists", key))
		}
		if parent != "" {
			p, err := get(tx, parent)
			if err != nil {
				return err
			}
			if p.Kind != KindCommitted {
				return errdefs.InvalidArgument(fmt.Errorf("parent %s is not committed", parent))
			}
			if chain, err = ancestry(tx, p); err != nil {
				return err
			}
		}
		meta := metadata.Meta(tx)
		next, _ := strconv.ParseUint(string(meta.Get([]byte("nextid"))), 10, 64)
		next++
		if err := meta.Put([]byte("nextid"), []byte(strconv.FormatUint(next, 10))); err != nil {
			return err
		}
		info = Info{Key: key, Parent: parent, Kind: kind, Created: time.Now().UTC(), ID: strconv.FormatUint(next, 10)}
		// The directory exists before the transaction commits, so no committed record ever
		// points at nothing; a crash before commit leaves an orphan, removed at the next open.
		if err := s.makeDir(info, chain); err != nil {
			return err
		}
		return put(tx, info)
	})
	if err != nil {
		if info.ID != "" {
			os.RemoveAll(s.dir(info.ID))
		}
		return nil, err
	}
	return s.mounts(info, chain), nil
}

// ancestry is p and its parents, nearest first.
func ancestry(tx *bolt.Tx, p Info) ([]Info, error) {
	chain := []Info{p}
	for p.Parent != "" {
		var err error
		if p, err = get(tx, p.Parent); err != nil {
			return nil, fmt.Errorf("broken parent chain: %w", err)
		}
		chain = append(chain, p)
		if len(chain) > 500 {
			return nil, errors.New("parent chain too long")
		}
	}
	return chain, nil
}

func (s *fsSnapshotter) makeDir(i Info, chain []Info) error {
	d := s.dir(i.ID)
	if err := os.MkdirAll(d, 0o700); err != nil {
		return err
	}
	fsDir := filepath.Join(d, "fs")
	if s.driver == nativeDriver && len(chain) > 0 {
		// cp -a keeps owners, modes, times, xattrs, hard links, devices and sparse files.
		if out, err := exec.Command("cp", "-a", "--reflink=auto", filepath.Join(s.dir(chain[0].ID), "fs"), fsDir).CombinedOutput(); err != nil {
			return fmt.Errorf("copy parent snapshot: %v: %s", err, out)
		}
		return nil
	}
	if err := os.Mkdir(fsDir, 0o755); err != nil {
		return err
	}
	if s.driver == overlayDriver {
		return os.Mkdir(filepath.Join(d, "work"), 0o700)
	}
	return nil
}

func (s *fsSnapshotter) mounts(i Info, chain []Info) []Mount {
	fsDir := filepath.Join(s.dir(i.ID), "fs")
	ro := i.Kind == KindView
	if s.driver == nativeDriver || len(chain) == 0 {
		opts := []string{"rbind", "rw"}
		if ro {
			opts[1] = "ro"
		}
		return []Mount{{Type: "bind", Source: fsDir, Options: opts}}
	}
	var lowers []string
	for _, p := range chain {
		lowers = append(lowers, filepath.Join(s.dir(p.ID), "fs"))
	}
	if ro {
		if len(lowers) == 1 {
			return []Mount{{Type: "bind", Source: lowers[0], Options: []string{"rbind", "ro"}}}
		}
		return []Mount{{Type: "overlay", Source: "overlay", Options: []string{"lowerdir=" + strings.Join(lowers, ":")}}}
	}
	return []Mount{{Type: "overlay", Source: "overlay", Options: []string{
		"index=off", "lowerdir=" + strings.Join(lowers, ":"),
		"upperdir=" + fsDir, "workdir=" + filepath.Join(s.dir(i.ID), "work"),
	}}}
}

func (s *fsSnapshotter) Mounts(ctx context.Context, key string) ([]Mount, error) {
	var info Info
	var chain []Info
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		if info, err = get(tx, key); err != nil {
			return err
		}
		if info.Kind == KindCommitted {
			return errdefs.InvalidArgument(fmt.Errorf("snapshot %s is committed: view or prepare on top of it", key))
		}
		if info.Parent != "" {
			p, err := get(tx, info.Parent)
			if err != nil {
				return err
			}
			chain, err = ancestry(tx, p)
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.mounts(info, chain), nil
}

func (s *fsSnapshotter) Commit(ctx context.Context, name, key string) error {
	if err := validKey(name); err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		i, err := get(tx, key)
		if err != nil {
			return err
		}
		if i.Kind != KindActive {
			return errdefs.InvalidArgument(fmt.Errorf("snapshot %s is %s: only active snapshots can be committed", key, i.Kind))
		}
		if _, err := get(tx, name); err == nil {
			return errdefs.Conflict(fmt.Errorf("snapshot %s: already exists", name))
		}
		if err := tx.Bucket(bucketSnapshots).Delete([]byte(key)); err != nil {
			return err
		}
		i.Key, i.Kind = name, KindCommitted
		// The work dir is overlay's scratch space for the active upper: a committed layer has none.
		os.RemoveAll(filepath.Join(s.dir(i.ID), "work"))
		return put(tx, i)
	})
}

func (s *fsSnapshotter) Remove(ctx context.Context, key string) error {
	var id string
	err := s.db.Update(func(tx *bolt.Tx) error {
		i, err := get(tx, key)
		if err != nil {
			return err
		}
		c := tx.Bucket(bucketSnapshots).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var o Info
			if json.Unmarshal(v, &o) == nil && o.Parent == key {
				return errdefs.Conflict(fmt.Errorf("snapshot %s is the parent of %s: remove that first", key, o.Key))
			}
		}
		id = i.ID
		return tx.Bucket(bucketSnapshots).Delete([]byte(key))
	})
	if err != nil {
		return err
	}
	// After the record is gone; a crash here leaves an orphan that the next open removes.
	return s.trash.Remove(s.dir(id))
}

func (s *fsSnapshotter) Stat(ctx context.Context, key string) (Info, error) {
	var i Info
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		i, err = get(tx, key)
		return err
	})
	return i, err
}

func (s *fsSnapshotter) Walk(ctx context.Context, fn func(Info) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSnapshots).ForEach(func(k, v []byte) error {
			var i Info
			if err := json.Unmarshal(v, &i); err != nil {
				return err
			}
			return fn(i)
		})
	})
}

// Size is the apparent size of the snapshot's own files, as Docker reports a container's SizeRw:
// file lengths (a symlink's is its target's), directories not counted, hard links once.
func (s *fsSnapshotter) Size(ctx context.Context, key string) (int64, error) {
	return s.walkFiles(ctx, key, func(fi os.FileInfo, st *syscall.Stat_t) int64 {
		if fi.IsDir() {
			return 0
		}
		return fi.Size()
	})
}

// Usage is the disk space the snapshot's own files take (du).
func (s *fsSnapshotter) Usage(ctx context.Context, key string) (int64, error) {
	return s.walkFiles(ctx, key, func(_ os.FileInfo, st *syscall.Stat_t) int64 { return st.Blocks * 512 })
}

// walkFiles sums size over the snapshot's own tree, counting each inode once.
func (s *fsSnapshotter) walkFiles(ctx context.Context, key string, size func(os.FileInfo, *syscall.Stat_t) int64) (int64, error) {
	i, err := s.Stat(ctx, key)
	if err != nil {
		return 0, err
	}
	var total int64
	seen := map[[2]uint64]bool{}
	err = filepath.Walk(filepath.Join(s.dir(i.ID), "fs"), func(_ string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		id := [2]uint64{st.Dev, st.Ino}
		if seen[id] {
			return nil // hard links count once
		}
		seen[id] = true
		total += size(fi, st)
		return nil
	})
	return total, err
}
