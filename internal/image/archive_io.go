package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/berthproject/berth/internal/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"
)

// archiveManifest is an entry of a docker-archive's manifest.json.
type archiveManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// Save writes images as a docker-archive (docker save's format, which docker load reads): the
// configs and uncompressed layers under blobs/sha256/, manifest.json and repositories.
func (s *Service) Save(ctx context.Context, names []string, w io.Writer) error {
	type entry struct {
		rec  Record
		tags []string
	}
	var entries []entry
	seen := map[digest.Digest]int{}
	for _, n := range names {
		rec, err := s.Get(ctx, n)
		if err != nil {
			return err
		}
		var tag string
		if ref, err := ParseReference(n); err == nil {
			s.store.db.View(func(tx *bolt.Tx) error {
				if contains(tagsOf(tx, rec.ID), ref.String()) {
					tag = reference.FamiliarString(ref)
				}
				return nil
			})
		}
		if i, ok := seen[rec.ID]; ok {
			if tag != "" {
				entries[i].tags = append(entries[i].tags, tag)
			}
			continue
		}
		seen[rec.ID] = len(entries)
		e := entry{rec: rec}
		if tag != "" {
			e.tags = []string{tag}
		}
		entries = append(entries, e)
	}
	tw := tar.NewWriter(w)
	written := map[string]bool{}
	now := time.Unix(0, 0)
	addFile := func(name string, r io.Reader, size int64) error {
		if written[name] {
			return nil
		}
		written[name] = true
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o444, Size: size, ModTime: now, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := io.Copy(tw, r)
		return err
	}
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Name: d, Mode: 0o755, ModTime: now, Typeflag: tar.TypeDir}); err != nil {
			return err
		}
	}
	var manifest []archiveManifest
	repos := map[string]map[string]string{}
	for _, e := range entries {
		cfg, err := s.readBlob(e.rec.ID)
		if err != nil {
			return err
		}
		var img ocispec.Image
		if err := json.Unmarshal(cfg, &img); err != nil {
			return err
		}
		m, err := s.ReadManifest(e.rec.Manifest)
		if err != nil {
			return err
		}
		cfgName := "blobs/sha256/" + e.rec.ID.Encoded()
		if err := addFile(cfgName, bytes.NewReader(cfg), int64(len(cfg))); err != nil {
			return err
		}
		am := archiveManifest{Config: cfgName, RepoTags: e.tags, Layers: []string{}}
		for i, l := range m.Layers {
			diffID := img.RootFS.DiffIDs[i]
			name := "blobs/sha256/" + diffID.Encoded()
			am.Layers = append(am.Layers, name)
			if written[name] {
				continue
			}
			if err := s.writeUncompressed(ctx, addFile, name, l); err != nil {
				return err
			}
		}
		if am.RepoTags == nil {
			am.RepoTags = []string{}
		}
		manifest = append(manifest, am)
		for _, t := range e.tags {
			ref, err := reference.ParseNormalizedNamed(t)
			if err != nil {
				continue
			}
			if tagged, ok := ref.(reference.Tagged); ok {
				repo := reference.FamiliarName(ref)
				if repos[repo] == nil {
					repos[repo] = map[string]string{}
				}
				repos[repo][tagged.Tag()] = img.RootFS.DiffIDs[len(img.RootFS.DiffIDs)-1].Encoded()
			}
		}
	}
	mj, _ := json.Marshal(manifest)
	if err := addFile("manifest.json", bytes.NewReader(mj), int64(len(mj))); err != nil {
		return err
	}
	if len(repos) > 0 {
		rj, _ := json.Marshal(repos)
		if err := addFile("repositories", bytes.NewReader(rj), int64(len(rj))); err != nil {
			return err
		}
	}
	return tw.Close()
}

// writeUncompressed adds a layer to the archive as a plain tar: its size must be known first,
// so a compressed layer is decompressed to a temporary file.
func (s *Service) writeUncompressed(ctx context.Context, add func(string, io.Reader, int64) error, name string, l ocispec.Descriptor) error {
	blob, err := s.content.Open(l.Digest)
	if err != nil {
		return err
	}
	defer blob.Close()
	r, closeFn, err := decompressLayer(blob, l.MediaType)
	if err != nil {
		return err
	}
	defer closeFn()
	if r == io.Reader(blob) {
		fi, err := blob.Stat()
		if err != nil {
			return err
		}
		return add(name, blob, fi.Size())
	}
	tmp, err := os.CreateTemp(filepath.Join(s.root, "tmp"), "save-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	n, err := io.Copy(tmp, &ctxReader{ctx: ctx, r: r})
	if err != nil {
		return err
	}
	if _, err := tmp.Seek(0, 0); err != nil {
		return err
	}
	return add(name, tmp, n)
}

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

// Load reads a docker-archive (docker save's output) and makes its images; report is told of
// each loaded image ("Loaded image: busybox:latest" or "Loaded image ID: sha256:…").
func (s *Service) Load(ctx context.Context, r io.Reader, report func(string)) error {
	defer s.Lease()()
	dir, err := os.MkdirTemp(filepath.Join(s.root, "tmp"), "load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	files := map[string]string{} // clean archive path -> temp file
	tr := tar.NewReader(r)
	i := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return errdefs.InvalidArgument(fmt.Errorf("invalid archive: %w", err))
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		i++
		p := filepath.Join(dir, fmt.Sprint(i))
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, &ctxReader{ctx: ctx, r: tr})
		f.Close()
		if err != nil {
			return err
		}
		files[path.Clean(strings.TrimPrefix(h.Name, "./"))] = p
	}
	mp, ok := files["manifest.json"]
	if !ok {
		if _, oci := files["index.json"]; oci {
			return errdefs.InvalidArgument(fmt.Errorf("OCI layouts without manifest.json are not supported yet"))
		}
		return errdefs.InvalidArgument(fmt.Errorf("invalid tar file: no manifest.json"))
	}
	b, err := os.ReadFile(mp)
	if err != nil {
		return err
	}
	var manifest []archiveManifest
	if err := json.Unmarshal(b, &manifest); err != nil {
		return errdefs.InvalidArgument(fmt.Errorf("manifest.json: %w", err))
	}
	put := func(name string) (ocispec.Descriptor, error) {
		p, ok := files[path.Clean(name)]
		if !ok {
			return ocispec.Descriptor{}, errdefs.InvalidArgument(fmt.Errorf("invalid archive: %s is missing", name))
		}
		f, err := os.Open(p)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		defer f.Close()
		info, err := s.content.Write(ctx, f, "", -1)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		return ocispec.Descriptor{Digest: info.Digest, Size: info.Size}, nil
	}
	for _, am := range manifest {
		cfg, err := put(am.Config)
		if err != nil {
			return err
		}
		cfg.MediaType = ocispec.MediaTypeImageConfig
		m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cfg}
		m.SchemaVersion = 2
		for _, l := range am.Layers {
			d, err := put(l)
			if err != nil {
				return err
			}
			d.MediaType = ocispec.MediaTypeImageLayer
			m.Layers = append(m.Layers, d)
		}
		mj, _ := json.Marshal(m)
		minfo, err := s.content.Write(ctx, bytes.NewReader(mj), "", -1)
		if err != nil {
			return err
		}
		var tags []reference.Named
		for _, t := range am.RepoTags {
			ref, err := ParseReference(t)
			if err != nil {
				return err
			}
			tags = append(tags, ref)
		}
		id, err := s.Register(ctx, minfo.Digest, RegisterOptions{Tags: tags})
		if err != nil {
			return err
		}
		if len(am.RepoTags) == 0 {
			report("Loaded image ID: " + id.String())
		}
		for _, t := range am.RepoTags {
			report("Loaded image: " + t)
		}
	}
	return nil
}

// decompressLayer opens a layer blob's tar stream: gzip and zstd by magic number or media type;
// a plain tar is the file itself.
func decompressLayer(f *os.File, mediaType string) (io.Reader, func(), error) {
	magic := make([]byte, 4)
	n, _ := f.ReadAt(magic, 0)
	magic = magic[:n]
	switch {
	case strings.HasSuffix(mediaType, "zstd") || bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := newZstdReader(f)
		if err != nil {
			return nil, nil, err
		}
		return zr, func() { zr.Close() }, nil
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, nil, err
		}
		return zr, func() { zr.Close() }, nil
	}
	return f, func() {}, nil
}
