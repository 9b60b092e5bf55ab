package build

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/berthproject/berth/internal/archive"
	"github.com/berthproject/berth/internal/pathsafe"
	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

type copyRequest struct {
	name         string // COPY or ADD
	sd           instructions.SourcesAndDest
	from         string
	chown, chmod string
	add          bool
}

// copySource is one thing COPY or ADD copies.
type copySource struct {
	path    string // on the host: in the context, a downloaded file, or in an image's view
	name    string // the name it gets in a destination directory
	data    *string
	extract bool // ADD of a local archive: its content is unpacked
	url     bool
}

// sourceRoot is the filesystem of a stage built before, or of an image (COPY --from,
// RUN --mount from=), mounted read-only.
func (s *state) sourceRoot(ctx context.Context, from string) (string, func(), error) {
	var id = s.image
	if k, ok := s.j.stageIndex(from, s.r.index); ok {
		id = s.runs[k].image
	} else {
		var err error
		if id, err = s.j.b.backend.BaseImage(ctx, from, false, s.j.opts.Auths, s.r.out); err != nil {
			return "", nil, err
		}
	}
	return s.j.b.backend.ViewImage(ctx, id)
}

func (s *state) copy(ctx context.Context, req copyRequest) error {
	fail := func(err error) error { return fmt.Errorf("%s failed: %w", req.name, err) }
	root, inContext := s.j.ctx.dir, true
	if req.from != "" {
		dir, release, err := s.sourceRoot(ctx, req.from)
		if err != nil {
			return fail(err)
		}
		defer release()
		root, inContext = dir, false
	}
	var sources []copySource
	for _, sc := range req.sd.SourceContents {
		data := sc.Data
		sources = append(sources, copySource{name: path.Base(sc.Path), data: &data})
	}
	for _, p := range req.sd.SourcePaths {
		if req.add && isURL(p) {
			src, err := s.download(ctx, p)
			if err != nil {
				return fail(err)
			}
			sources = append(sources, src)
			continue
		}
		found, err := matchSources(root, p, inContext)
		if err != nil {
			return fail(err)
		}
		for _, f := range found {
			if req.add {
				f.extract = isArchive(f.path)
			}
			sources = append(sources, f)
		}
	}
	dest := req.sd.DestPath
	destIsDir := strings.HasSuffix(dest, "/") || dest == "." || strings.HasSuffix(dest, "/.")
	if len(sources) > 1 && !destIsDir {
		return fmt.Errorf("When using %s with more than one source file, the destination must be a directory and end with a /", req.name)
	}
	if !path.IsAbs(dest) {
		base := s.cfg.WorkingDir
		if base == "" {
			base = "/"
		}
		dest = path.Join(base, dest)
	}
	dest = path.Clean(dest)
	var mode *os.FileMode
	if req.chmod != "" {
		m, err := strconv.ParseUint(req.chmod, 8, 32)
		if err != nil || m > 0o7777 {
			return fail(fmt.Errorf("invalid chmod parameter: %s", req.chmod))
		}
		fm := os.FileMode(m)
		mode = &fm
	}
	var sums []string
	for _, src := range sources {
		sum, err := checksum(src)
		if err != nil {
			return fail(err)
		}
		sums = append(sums, sum)
	}
	kind := "file"
	if len(sources) > 1 {
		kind = "multi"
	}
	all := sha256.Sum256([]byte(strings.Join(sums, ",")))
	createdBy := fmt.Sprintf("%s #(nop) %s %s:%s in %s ", strings.Join(s.shell(), " "), req.name, kind, hex.EncodeToString(all[:]), dest)
	keyParts := append([]string{req.chown, req.chmod, strconv.FormatBool(destIsDir)}, sums...)
	return s.containerStep(ctx, createdBy, keyParts, StepContainer{
		Env: s.cfg.Env,
		Prepare: func(rootfs string) error {
			uid, gid, err := resolveChown(rootfs, req.chown)
			if err != nil {
				return fail(err)
			}
			if err := copyInto(ctx, rootfs, sources, dest, destIsDir, uid, gid, mode); err != nil {
				return fail(err)
			}
			return nil
		},
	})
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// matchSources expands a source pattern inside root. In the build context, a source that leads
// out of it (by "..", or through a symlink) is refused; in an image, paths resolve inside it.
func matchSources(root, pattern string, inContext bool) ([]copySource, error) {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, err
	}
	joined := filepath.Join(root, pattern)
	if rel, err := filepath.Rel(root, joined); err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return nil, fmt.Errorf("forbidden path outside the build context: %s", pattern)
	}
	matches, err := filepath.Glob(joined)
	if err != nil {
		return nil, err
	}
	if len(matches) == 0 {
		if strings.ContainsAny(pattern, "*?[") {
			return nil, errors.New("no source files were specified")
		}
		if inContext {
			return nil, fmt.Errorf("file not found in build context or excluded by .dockerignore: stat %s: file does not exist", pattern)
		}
		return nil, fmt.Errorf("stat %s: file does not exist", pattern)
	}
	var out []copySource
	for _, m := range matches {
		rel, _ := filepath.Rel(root, m)
		var p string
		if inContext {
			if p, err = filepath.EvalSymlinks(m); err != nil {
				return nil, fmt.Errorf("%s: %w", pattern, errors.Unwrap(err))
			}
			if r, err := filepath.Rel(realRoot, p); err != nil || r == ".." || strings.HasPrefix(r, "../") {
				return nil, fmt.Errorf("forbidden path outside the build context: %s (through a symlink)", pattern)
			}
		} else if p, err = securejoin.SecureJoin(root, rel); err != nil {
			return nil, err
		}
		out = append(out, copySource{path: p, name: filepath.Base(m)})
	}
	return out, nil
}

// download fetches an ADD URL into the build's directory, with the daemon's proxy settings.
func (s *state) download(ctx context.Context, raw string) (copySource, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return copySource{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return copySource{}, err
	}
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment}, Timeout: 30 * time.Minute}
	resp, err := client.Do(req)
	if err != nil {
		return copySource{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return copySource{}, fmt.Errorf("failed to GET %s with status %s", raw, resp.Status)
	}
	f, err := os.CreateTemp(filepath.Dir(s.j.ctx.dir), "download-")
	if err != nil {
		return copySource{}, err
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		return copySource{}, err
	}
	os.Chmod(f.Name(), 0o600)
	if lm, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		os.Chtimes(f.Name(), lm, lm)
	}
	name := path.Base(u.Path)
	if name == "/" || name == "." || name == "" {
		name = "download"
	}
	return copySource{path: f.Name(), name: name, url: true}, nil
}

// isArchive: ADD unpacks a local tar (plain, gzip or bzip2).
func isArchive(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return false
	}
	r, err := archive.Decompress(f)
	if err != nil {
		return false
	}
	hdr := make([]byte, 512)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return false
	}
	return bytes.Equal(hdr[257:262], []byte("ustar")) || (hdr[156] >= '0' && hdr[156] <= '7' && tarChecksumOK(hdr))
}

func tarChecksumOK(h []byte) bool {
	want, err := strconv.ParseUint(strings.TrimSpace(strings.TrimRight(string(h[148:156]), "\x00 ")), 8, 32)
	if err != nil {
		return false
	}
	var sum uint64
	for i, b := range h {
		if i >= 148 && i < 156 {
			b = ' '
		}
		sum += uint64(b)
	}
	return sum == want
}

// checksum digests what a source copies: names, modes, link targets and contents (not times).
func checksum(src copySource) (string, error) {
	h := sha256.New()
	if src.data != nil {
		fmt.Fprintf(h, "data %s\x00%s", src.name, *src.data)
		return hex.EncodeToString(h.Sum(nil)), nil
	}
	fmt.Fprintf(h, "name %s extract %t\x00", src.name, src.extract)
	err := filepath.Walk(src.path, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src.path, p)
		fmt.Fprintf(h, "%s\x00%o\x00", rel, info.Mode())
		switch {
		case info.Mode()&os.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "%s\x00", l)
		case info.Mode().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(h, f)
			f.Close()
			return err
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil)), err
}

// resolveChown turns --chown's user[:group] into ids, names looked up in the image's
// /etc/passwd and /etc/group; without a group the gid is the uid's number.
func resolveChown(rootfs, chown string) (int, int, error) {
	if chown == "" {
		return 0, 0, nil
	}
	user, group, hasGroup := strings.Cut(chown, ":")
	uid, err := lookupID(rootfs, "/etc/passwd", user)
	if err != nil {
		return 0, 0, fmt.Errorf("unable to convert uid/gid chown string to host mapping: %w", err)
	}
	gid := uid
	if hasGroup {
		if gid, err = lookupID(rootfs, "/etc/group", group); err != nil {
			return 0, 0, fmt.Errorf("unable to convert uid/gid chown string to host mapping: %w", err)
		}
	}
	return uid, gid, nil
}

func lookupID(rootfs, file, name string) (int, error) {
	if n, err := strconv.Atoi(name); err == nil {
		return n, nil
	}
	p, err := securejoin.SecureJoin(rootfs, file)
	if err != nil {
		return 0, err
	}
	f, err := os.Open(p)
	if err != nil {
		return 0, fmt.Errorf("can't find uid for user %s: no such user: %s", name, name)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) >= 3 && fields[0] == name {
			return strconv.Atoi(fields[2])
		}
	}
	return 0, fmt.Errorf("can't find uid for user %s: no such user: %s", name, name)
}

// copyInto writes the sources into the container's root, as a tar applied inside it (so every
// path resolves inside the root): a directory's content goes into the destination, a file
// into it when it is a directory, else to the destination's name.
func copyInto(ctx context.Context, rootfs string, sources []copySource, dest string, destIsDir bool, uid, gid int, mode *os.FileMode) error {
	root, err := pathsafe.OpenRoot(rootfs)
	if err != nil {
		return err
	}
	defer root.Close()
	if !destIsDir && len(sources) == 1 {
		src := sources[0]
		if h, err := pathsafe.Open(root, dest); err == nil {
			var st os.FileInfo
			if f, err := pathsafe.Reopen(h, os.O_RDONLY); err == nil {
				st, _ = f.Stat()
				f.Close()
			}
			h.Close()
			destIsDir = st != nil && st.IsDir()
		}
		if src.data == nil && !src.url {
			if st, err := os.Stat(src.path); err == nil && st.IsDir() {
				destIsDir = true
			}
		}
		if src.extract {
			destIsDir = true
		}
	}
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := func() error {
			for _, src := range sources {
				if src.extract {
					continue
				}
				target := dest
				if destIsDir {
					target = path.Join(dest, src.name)
				}
				if src.data != nil {
					m := int64(0o644)
					if mode != nil {
						m = int64(*mode)
					}
					if err := tw.WriteHeader(&tar.Header{Name: target, Mode: m, Size: int64(len(*src.data)), Uid: uid, Gid: gid, ModTime: time.Now(), Typeflag: tar.TypeReg}); err != nil {
						return err
					}
					if _, err := io.WriteString(tw, *src.data); err != nil {
						return err
					}
					continue
				}
				if st, err := os.Stat(src.path); err == nil && st.IsDir() {
					target = dest
				}
				if err := writeTree(tw, src.path, target, uid, gid, mode); err != nil {
					return err
				}
			}
			if destIsDir {
				// The destination directory itself, so an empty source still makes it.
				if err := tw.WriteHeader(&tar.Header{Name: dest + "/", Mode: 0o755, Uid: uid, Gid: gid, ModTime: time.Now(), Typeflag: tar.TypeDir}); err != nil {
					return err
				}
			}
			return tw.Close()
		}()
		pw.CloseWithError(err)
	}()
	_, err = archive.Apply(ctx, rootfs, pr, archive.ApplyOptions{Whiteouts: archive.WhiteoutNone})
	pr.CloseWithError(err)
	if err != nil {
		return err
	}
	for _, src := range sources {
		if !src.extract {
			continue
		}
		if err := extractArchive(ctx, root, rootfs, src.path, dest); err != nil {
			return err
		}
	}
	return nil
}

// extractArchive unpacks an ADD archive into dest, inside the root.
func extractArchive(ctx context.Context, root *os.File, rootfs, archivePath, dest string) error {
	h, err := pathsafe.MkdirAll(root, dest, 0o755)
	if err != nil {
		return err
	}
	h.Close()
	dir, err := securejoin.SecureJoin(rootfs, dest)
	if err != nil {
		return err
	}
	f, err := os.Open(archivePath)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := archive.Decompress(f)
	if err != nil {
		return err
	}
	_, err = archive.Apply(ctx, dir, r, archive.ApplyOptions{Whiteouts: archive.WhiteoutNone})
	return err
}

// writeTree writes src (a file or a directory's tree) as target in the tar, owned by uid:gid,
// with mode's permissions when given. Symlinks inside are copied as links.
func writeTree(tw *tar.Writer, src, target string, uid, gid int, mode *os.FileMode) error {
	top := true
	return filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if top && info.Mode()&os.ModeSymlink != 0 {
			// The source itself was resolved already; Walk does not follow a root link.
			if info, err = os.Stat(p); err != nil {
				return err
			}
		}
		rel, _ := filepath.Rel(src, p)
		name := path.Join(target, filepath.ToSlash(rel))
		isTop := top
		top = false
		if isTop && info.IsDir() {
			return nil // the directory's content goes into target
		}
		link := ""
		if info.Mode()&os.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		if !info.Mode().IsRegular() && !info.IsDir() && link == "" {
			return nil // devices, sockets and fifos are not copied
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name, hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = name, uid, gid, "", ""
		if info.IsDir() {
			hdr.Name += "/"
		}
		if mode != nil && link == "" {
			hdr.Mode = int64(*mode)
		}
		if err := archive.WriteEntry(tw, hdr, p); err != nil {
			return err
		}
		return nil
	})
}
