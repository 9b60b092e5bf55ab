// Package trash takes directory trees out of the way at once and deletes them in the background.
//
// Removing a container deletes several small trees (its record, its snapshot, its runtime files).
// On a journalling filesystem each unlink is a metadata write: milliseconds in all, which a
// `run --rm` would wait for. A rename into the trash is one atomic step: the tree is gone from
// its place (a crash cannot leave half of it there) and the deletion happens off the caller's
// path. Whatever a crash left in a trash directory is deleted when it is opened again.
package trash

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// Can is a trash directory. It must be on the filesystem of the trees given to Remove; a tree
// on another one is deleted in place.
type Can struct {
	dir      string
	emptying sync.WaitGroup
}

// Open makes dir (0700) if needed and starts deleting what it still holds.
func Open(dir string) (*Can, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	c := &Can{dir: dir}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		c.deleteLater(filepath.Join(dir, e.Name()))
	}
	return c, nil
}

// Remove takes path out of the way and deletes it in the background. A missing path is not an
// error. A nil Can deletes in place.
func (c *Can) Remove(path string) error {
	if c == nil {
		return os.RemoveAll(path)
	}
	var suffix [8]byte
	rand.Read(suffix[:])
	dst := filepath.Join(c.dir, filepath.Base(path)+"-"+hex.EncodeToString(suffix[:]))
	if err := os.Rename(path, dst); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		// Another filesystem (EXDEV) or a mount point (EBUSY): delete it where it is.
		return os.RemoveAll(path)
	}
	c.deleteLater(dst)
	return nil
}

func (c *Can) deleteLater(path string) {
	c.emptying.Add(1)
	go func() {
		defer c.emptying.Done()
		os.RemoveAll(path)
	}()
}

// Wait returns when everything given so far has been deleted.
func (c *Can) Wait() {
	if c != nil {
		c.emptying.Wait()
	}
}
