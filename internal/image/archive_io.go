package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/berthproject/berth/internal/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"
)

// imageNameAnnotation names an image in an OCI layout's index.json, as containerd and Docker
// write it ("docker.io/library/busybox:latest"); org.opencontainers.image.ref.name has the tag.
const imageNameAnnotation = "io.containerd.image.name"

// archiveManifest is an entry of a docker-archive's manifest.json.
type archiveManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// Save writes images as docker save does since Docker 25: one tar that is both a docker-archive
// (manifest.json, repositories) and an OCI image layout (oci-layout, index.json, an OCI manifest
// per image), sharing the configs and uncompressed layers under blobs/sha256/.
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
	written := map[string]int64{} // name -> size
	now := time.Unix(0, 0)
	addFile := func(name string, r io.Reader, size int64) error {
		if _, ok := written[name]; ok {
			return nil
		}
		written[name] = size
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
	index := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{}}
	index.SchemaVersion = 2
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
		om := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest,
			Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: e.rec.ID, Size: int64(len(cfg))}}
		om.SchemaVersion = 2
		for i, l := range m.Layers {
			diffID := img.RootFS.DiffIDs[i]
			name := "blobs/sha256/" + diffID.Encoded()
			am.Layers = append(am.Layers, name)
			if _, ok := written[name]; !ok {
				if err := s.writeUncompressed(ctx, addFile, name, l); err != nil {
					return err
				}
			}
			om.Layers = append(om.Layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: diffID, Size: written[name]})
		}
		omJSON, err := json.Marshal(om)
		if err != nil {
			return err
		}
		omDigest := digest.FromBytes(omJSON)
		if err := addFile("blobs/sha256/"+omDigest.Encoded(), bytes.NewReader(omJSON), int64(len(omJSON))); err != nil {
			return err
		}
		desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: omDigest, Size: int64(len(omJSON))}
		if len(e.tags) == 0 {
			index.Manifests = append(index.Manifests, desc)
		}
		for _, t := range e.tags {
			ref, err := ParseReference(t)
			if err != nil {
				continue
			}
			d := desc
			d.Annotations = map[string]string{imageNameAnnotation: ref.String()}
			if tagged, ok := ref.(reference.Tagged); ok {
				d.Annotations[ocispec.AnnotationRefName] = tagged.Tag()
			}
			index.Manifests = append(index.Manifests, d)
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
	ij, _ := json.Marshal(index)
	if err := addFile("index.json", bytes.NewReader(ij), int64(len(ij))); err != nil {
		return err
	}
	lj, _ := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err := addFile(ocispec.ImageLayoutFile, bytes.NewReader(lj), int64(len(lj))); err != nil {
		return err
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

// Load reads a docker-archive (docker save's output) or an OCI image layout as a tar (both are
// one tar since Docker 25; manifest.json is read when present) and makes its images; report is
// told of each ("Loaded image: busybox:latest" or "Loaded image ID: sha256:…"). Every blob is
// checked and every layer unpacked before any image is recorded, all in one transaction: a bad
// archive loads nothing, and what it brought is removed.
func (s *Service) Load(ctx context.Context, r io.Reader, report func(string)) (retErr error) {
	defer s.Lease()()
	dir, err := os.MkdirTemp(filepath.Join(s.root, "tmp"), "load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	files, err := extractArchive(ctx, r, dir)
	if err != nil {
		return err
	}
	// What this load adds to the store goes again if it fails.
	added := map[digest.Digest]bool{}
	defer func() {
		if retErr != nil && len(added) > 0 {
			s.sweep(context.WithoutCancel(ctx), func(d digest.Digest) bool { return added[d] })
		}
	}()
	l := &loader{s: s, ctx: ctx, files: files, added: added}
	var images []loadedImage
	if _, ok := files["manifest.json"]; ok {
		images, err = l.dockerArchive()
	} else if _, ok := files["index.json"]; ok {
		images, err = l.ociLayout()
	} else {
		return errdefs.InvalidArgument(errors.New("invalid archive: it holds neither manifest.json (docker save) nor index.json (OCI layout)"))
	}
	if err != nil {
		return err
	}
	var pending []pendingImage
	for _, img := range images {
		// The layers this load unpacks (not those the engine has) go again if it fails.
		if m, err := s.ReadManifest(img.manifest); err == nil {
			_, chains := s.parts(Record{ID: m.Config.Digest, Manifest: img.manifest})
			for _, c := range chains {
				if _, err := s.snaps.Stat(ctx, c.String()); err != nil {
					added[c] = true
				}
			}
		}
		p, err := s.unpackImage(ctx, img.manifest, RegisterOptions{Tags: img.tags})
		if err != nil {
			return err
		}
		pending = append(pending, p)
	}
	if err := s.recordImages(pending); err != nil {
		return err
	}
	for i, p := range pending {
		if len(images[i].names) == 0 {
			report("Loaded image ID: " + p.rec.ID.String())
		}
		for _, n := range images[i].names {
			report("Loaded image: " + n)
		}
	}
	return nil
}

// extractArchive writes the archive's regular files into dir, keyed by their clean names. A name
// that leaves the archive (absolute, or through "..") or a truncated archive is refused.
func extractArchive(ctx context.Context, r io.Reader, dir string) (map[string]string, error) {
	files := map[string]string{}
	tr := tar.NewReader(r)
	for i := 0; ; i++ {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, errdefs.InvalidArgument(fmt.Errorf("invalid archive: %w", err))
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		if path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return nil, errdefs.InvalidArgument(fmt.Errorf("invalid archive: %q points outside the archive", h.Name))
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		p := filepath.Join(dir, fmt.Sprint(i))
		f, err := os.Create(p)
		if err != nil {
			return nil, err
		}
		_, err = io.Copy(f, &ctxReader{ctx: ctx, r: tr})
		f.Close()
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, errdefs.InvalidArgument(fmt.Errorf("invalid archive: %s is truncated", h.Name))
		}
		if err != nil {
			return nil, err
		}
		files[name] = p
	}
	return files, nil
}

// loadedImage is an image of an archive whose blobs are stored: its manifest, and its names.
type loadedImage struct {
	manifest digest.Digest
	tags     []reference.Named
	names    []string // as reported ("busybox:latest")
}

type loader struct {
	s     *Service
	ctx   context.Context
	files map[string]string
	added map[digest.Digest]bool
}

// put stores an archive file in the content store (checked against want when given).
func (l *loader) put(name string, want digest.Digest, size int64) (ocispec.Descriptor, error) {
	p, ok := l.files[path.Clean(name)]
	if !ok {
		return ocispec.Descriptor{}, errdefs.InvalidArgument(fmt.Errorf("invalid archive: %s is missing", name))
	}
	f, err := os.Open(p)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	defer f.Close()
	if want == "" {
		// Hashed first, to know whether the store had it already.
		d, err := digest.SHA256.FromReader(f)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return ocispec.Descriptor{}, err
		}
		want = d
	}
	_, statErr := l.s.content.Stat(want)
	info, err := l.s.content.Write(l.ctx, f, want, size)
	if err != nil {
		return ocispec.Descriptor{}, errdefs.InvalidArgument(fmt.Errorf("invalid archive: %s: %w", name, err))
	}
	if statErr != nil {
		l.added[info.Digest] = true
	}
	return ocispec.Descriptor{Digest: info.Digest, Size: info.Size}, nil
}

func (l *loader) dockerArchive() ([]loadedImage, error) {
	b, err := os.ReadFile(l.files["manifest.json"])
	if err != nil {
		return nil, err
	}
	var manifest []archiveManifest
	if err := json.Unmarshal(b, &manifest); err != nil {
		return nil, errdefs.InvalidArgument(fmt.Errorf("invalid archive: manifest.json: %w", err))
	}
	// Every file named must be there before anything is stored.
	for _, am := range manifest {
		for _, name := range append([]string{am.Config}, am.Layers...) {
			if _, ok := l.files[path.Clean(name)]; !ok {
				return nil, errdefs.InvalidArgument(fmt.Errorf("invalid archive: %s is missing", name))
			}
		}
	}
	var out []loadedImage
	for _, am := range manifest {
		img := loadedImage{names: am.RepoTags}
		for _, t := range am.RepoTags {
			ref, err := ParseReference(t)
			if err != nil {
				return nil, err
			}
			img.tags = append(img.tags, ref)
		}
		cfg, err := l.put(am.Config, "", -1)
		if err != nil {
			return nil, err
		}
		cfg.MediaType = ocispec.MediaTypeImageConfig
		m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cfg}
		m.SchemaVersion = 2
		for _, name := range am.Layers {
			d, err := l.put(name, "", -1)
			if err != nil {
				return nil, err
			}
			d.MediaType = ocispec.MediaTypeImageLayer
			m.Layers = append(m.Layers, d)
		}
		mj, _ := json.Marshal(m)
		if _, err := l.s.content.Stat(digest.FromBytes(mj)); err != nil {
			l.added[digest.FromBytes(mj)] = true
		}
		minfo, err := l.s.content.Write(l.ctx, bytes.NewReader(mj), "", -1)
		if err != nil {
			return nil, err
		}
		img.manifest = minfo.Digest
		out = append(out, img)
	}
	return out, nil
}

// ociLayout loads the images index.json lists: the manifests (the platform's one of a nested
// index), every blob verified against its descriptor.
func (l *loader) ociLayout() ([]loadedImage, error) {
	var index ocispec.Index
	if err := l.readJSON("index.json", &index); err != nil {
		return nil, err
	}
	if len(index.Manifests) == 0 {
		return nil, errdefs.InvalidArgument(errors.New("invalid archive: index.json lists no image"))
	}
	var out []loadedImage
	byManifest := map[digest.Digest]int{}
	for _, desc := range index.Manifests {
		mdesc, err := l.platformManifest(desc)
		if err != nil {
			return nil, err
		}
		i, seen := byManifest[mdesc.Digest]
		if !seen {
			if err := l.putImage(mdesc); err != nil {
				return nil, err
			}
			i = len(out)
			byManifest[mdesc.Digest] = i
			out = append(out, loadedImage{manifest: mdesc.Digest})
		}
		name := desc.Annotations[imageNameAnnotation]
		if name == "" {
			name = desc.Annotations[ocispec.AnnotationRefName]
			if !strings.ContainsAny(name, "/:") {
				name = "" // a bare tag names no repository
			}
		}
		if name != "" {
			ref, err := ParseReference(name)
			if err != nil {
				return nil, err
			}
			out[i].tags = append(out[i].tags, ref)
			out[i].names = append(out[i].names, reference.FamiliarString(ref))
		}
	}
	return out, nil
}

func (l *loader) blobName(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil || d.Algorithm() != digest.SHA256 {
		return "", errdefs.InvalidArgument(fmt.Errorf("invalid archive: bad digest %q", d))
	}
	return "blobs/sha256/" + d.Encoded(), nil
}

func (l *loader) readJSON(name string, v any) error {
	p, ok := l.files[name]
	if !ok {
		return errdefs.InvalidArgument(fmt.Errorf("invalid archive: %s is missing", name))
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return errdefs.InvalidArgument(fmt.Errorf("invalid archive: %s: %w", name, err))
	}
	return nil
}

// platformManifest follows a nested index to the manifest for this machine's platform.
func (l *loader) platformManifest(desc ocispec.Descriptor) (ocispec.Descriptor, error) {
	for depth := 0; depth < 4; depth++ {
		if desc.MediaType != ocispec.MediaTypeImageIndex && desc.MediaType != "application/vnd.docker.distribution.manifest.list.v2+json" {
			return desc, nil
		}
		name, err := l.blobName(desc.Digest)
		if err != nil {
			return desc, err
		}
		var idx ocispec.Index
		if err := l.readJSON(name, &idx); err != nil {
			return desc, err
		}
		found := false
		for _, m := range idx.Manifests {
			if m.Platform == nil || (m.Platform.OS == "linux" && m.Platform.Architecture == runtime.GOARCH) {
				desc, found = m, true
				break
			}
		}
		if !found {
			return desc, errdefs.NotFound(fmt.Errorf("no image for linux/%s in index %s", runtime.GOARCH, desc.Digest))
		}
	}
	return desc, errdefs.InvalidArgument(errors.New("invalid archive: indexes nested too deep"))
}

// putImage stores a manifest, its config and its layers, each checked against its descriptor;
// every blob must be in the archive before any is stored.
func (l *loader) putImage(mdesc ocispec.Descriptor) error {
	name, err := l.blobName(mdesc.Digest)
	if err != nil {
		return err
	}
	var m ocispec.Manifest
	if err := l.readJSON(name, &m); err != nil {
		return err
	}
	descs := append([]ocispec.Descriptor{m.Config}, m.Layers...)
	for _, d := range descs {
		n, err := l.blobName(d.Digest)
		if err != nil {
			return err
		}
		if _, ok := l.files[n]; !ok {
			return errdefs.InvalidArgument(fmt.Errorf("invalid archive: blob %s of manifest %s is missing", d.Digest, mdesc.Digest))
		}
	}
	for _, d := range append(descs, mdesc) {
		n, _ := l.blobName(d.Digest)
		if _, err := l.put(n, d.Digest, d.Size); err != nil {
			return err
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
