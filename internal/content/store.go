// Package content is berth's content-addressed blob store: layers, configs and manifests stored
// under their sha256 digest, verified while they are written, and made visible only once
// complete (written to an ingest file, synced, then renamed into place), so a crash or a bad
// download never leaves a blob that does not match its name.
package content

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/berthproject/berth/internal/errdefs"
	"github.com/opencontainers/go-digest"
)

// Store holds blobs under root/blobs/sha256/<hex>.
type Store struct {
	root string
}

// Open makes (if needed) and opens a store. Ingests left by a crash are removed: they were never
// visible, and nothing can resume them.
func Open(root string) (*Store, error) {
	for _, d := range []string{filepath.Join(root, "blobs", "sha256"), filepath.Join(root, "ingest")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	s := &Store{root: root}
	if ents, err := os.ReadDir(s.ingestDir()); err == nil {
		for _, e := range ents {
			os.Remove(filepath.Join(s.ingestDir(), e.Name()))
		}
	}
	return s, nil
}

func (s *Store) ingestDir() string { return filepath.Join(s.root, "ingest") }

// path is where a digest's blob lives; the digest is validated first, since it becomes a path.
func (s *Store) path(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", errdefs.InvalidArgument(fmt.Errorf("invalid digest %q: %w", d, err))
	}
	if d.Algorithm() != digest.SHA256 {
		return "", errdefs.InvalidArgument(fmt.Errorf("unsupported digest algorithm %s", d.Algorithm()))
	}
	return filepath.Join(s.root, "blobs", "sha256", d.Encoded()), nil
}

// Info is what the store knows of a blob.
type Info struct {
	Digest digest.Digest
	Size   int64
}

// Write stores everything read from r. With expected set, the blob must have that digest (and
// size, when size >= 0) or nothing is kept. Writing a blob that exists is cheap and succeeds.
func (s *Store) Write(ctx context.Context, r io.Reader, expected digest.Digest, size int64) (Info, error) {
	if expected != "" {
		p, err := s.path(expected)
		if err != nil {
			return Info{}, err
		}
		if fi, err := os.Stat(p); err == nil && (size < 0 || fi.Size() == size) {
			return Info{Digest: expected, Size: fi.Size()}, nil
		}
	}
	tmp, err := os.CreateTemp(s.ingestDir(), "blob-")
	if err != nil {
		return Info{}, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := digest.SHA256.Digester()
	n, err := io.Copy(io.MultiWriter(tmp, h.Hash()), &ctxReader{ctx: ctx, r: r})
	if err != nil {
		return Info{}, err
	}
	got := h.Digest()
	if expected != "" && got != expected {
		return Info{}, errdefs.InvalidArgument(fmt.Errorf("content digest %s does not match the expected %s", got, expected))
	}
	if size >= 0 && n != size {
		return Info{}, errdefs.InvalidArgument(fmt.Errorf("content size %d does not match the expected %d", n, size))
	}
	if err := tmp.Sync(); err != nil {
		return Info{}, err
	}
	if err := tmp.Chmod(0o400); err != nil {
		return Info{}, err
	}
	p, _ := s.path(got)
	if err := os.Rename(tmp.Name(), p); err != nil {
		return Info{}, err
	}
	return Info{Digest: got, Size: n}, syncDir(filepath.Dir(p))
}

// Open returns a reader for a blob.
func (s *Store) Open(d digest.Digest) (*os.File, error) {
	p, err := s.path(d)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errdefs.NotFound(fmt.Errorf("content %s: not found", d))
	}
	return f, err
}

// Stat describes a blob.
func (s *Store) Stat(d digest.Digest) (Info, error) {
	p, err := s.path(d)
	if err != nil {
		return Info{}, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return Info{}, errdefs.NotFound(fmt.Errorf("content %s: not found", d))
	}
	if err != nil {
		return Info{}, err
	}
	return Info{Digest: d, Size: fi.Size()}, nil
}

// Delete removes a blob.
func (s *Store) Delete(d digest.Digest) error {
	p, err := s.path(d)
	if err != nil {
		return err
	}
	if err := os.Remove(p); errors.Is(err, fs.ErrNotExist) {
		return errdefs.NotFound(fmt.Errorf("content %s: not found", d))
	} else if err != nil {
		return err
	}
	return nil
}

// Walk calls fn for every blob.
func (s *Store) Walk(fn func(Info) error) error {
	ents, err := os.ReadDir(filepath.Join(s.root, "blobs", "sha256"))
	if err != nil {
		return err
	}
	for _, e := range ents {
		d := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		if d.Validate() != nil {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		if err := fn(Info{Digest: d, Size: fi.Size()}); err != nil {
			return err
		}
	}
	return nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// ctxReader stops a long copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
