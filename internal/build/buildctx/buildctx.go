// Package buildctx makes and reads build contexts: the tar a client sends to POST /build, with
// .dockerignore's exclusions (Docker's pattern rules, through moby/patternmatcher) applied.
package buildctx

import (
	"archive/tar"
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/berthproject/berth/internal/archive"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// SecretsDir is the reserved directory of a context tar where `berth build --secret` puts the
// secrets: the daemon takes them out of the context (they are never copied into a layer nor
// part of a checksum) and offers them to RUN --mount=type=secret only.
const SecretsDir = ".berth-build-secrets"

// ReadIgnore reads the .dockerignore of a context directory (none: no patterns).
func ReadIgnore(dir string) ([]string, error) {
	f, err := os.Open(filepath.Join(dir, ".dockerignore"))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ignorefile.ReadAll(bufio.NewReader(f))
}

// Secret is a secret file the client sends with the context.
type Secret struct{ ID, Path string }

// Write writes the context directory dir as a tar to w, leaving out what the patterns exclude
// (but never the Dockerfile nor .dockerignore, which the daemon reads), then the secrets under
// SecretsDir.
func Write(w io.Writer, dir string, patterns []string, dockerfile string, secrets []Secret) error {
	return WriteWithExtra(w, dir, patterns, dockerfile, secrets, "")
}

// WriteWithExtra is Write adding the file extra (a Dockerfile from elsewhere) as dockerfile.
func WriteWithExtra(w io.Writer, dir string, patterns []string, dockerfile string, secrets []Secret, extra string) error {
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return fmt.Errorf("invalid .dockerignore: %w", err)
	}
	keep := map[string]bool{".dockerignore": true, filepath.ToSlash(filepath.Clean(dockerfile)): true}
	tw := tar.NewWriter(w)
	err = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel == SecretsDir || strings.HasPrefix(rel, SecretsDir+"/") {
			return fmt.Errorf("the build context holds %s, a name berth reserves for secrets", SecretsDir)
		}
		if !keep[rel] {
			excluded, err := pm.MatchesOrParentMatches(rel)
			if err != nil {
				return err
			}
			if excluded {
				if info.IsDir() && !pm.Exclusions() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		link := ""
		if info.Mode()&os.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name = rel
		if info.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uname, hdr.Gname = "", ""
		return archive.WriteEntry(tw, hdr, p)
	})
	if err != nil {
		return err
	}
	if extra != "" {
		b, err := os.ReadFile(extra)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: dockerfile, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := tw.Write(b); err != nil {
			return err
		}
	}
	for _, s := range secrets {
		b, err := os.ReadFile(s.Path)
		if err != nil {
			return fmt.Errorf("secret %s: %w", s.ID, err)
		}
		if err := tw.WriteHeader(&tar.Header{Name: SecretsDir + "/" + s.ID, Mode: 0o600, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := tw.Write(b); err != nil {
			return err
		}
	}
	return tw.Close()
}
