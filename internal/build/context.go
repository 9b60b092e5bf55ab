package build

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/berthproject/berth/internal/archive"
	"github.com/berthproject/berth/internal/build/buildctx"
	"github.com/berthproject/berth/internal/errdefs"
)

// buildContext is a received context, extracted in a private directory.
type buildContext struct {
	dir     string // the context
	secrets string // secret files sent by `berth build --secret`, by id
}

func (c *buildContext) remove() { os.RemoveAll(filepath.Dir(c.dir)) }

// receiveContext extracts a context tar (plain, gzip or bzip2) into a new directory under tmp.
// Entries whose names climb out of the context are refused, and the secrets are set apart.
func receiveContext(ctx context.Context, tmp string, r io.Reader) (*buildContext, error) {
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, err
	}
	top, err := os.MkdirTemp(tmp, "context-")
	if err != nil {
		return nil, err
	}
	c := &buildContext{dir: filepath.Join(top, "context"), secrets: filepath.Join(top, "secrets")}
	for _, d := range []string{c.dir, c.secrets} {
		if err := os.Mkdir(d, 0o700); err != nil {
			c.remove()
			return nil, err
		}
	}
	src, err := archive.Decompress(r)
	if err != nil {
		c.remove()
		return nil, err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(filterContext(src, pw, c.secrets)) }()
	_, err = archive.Apply(ctx, c.dir, pr, archive.ApplyOptions{Whiteouts: archive.WhiteoutNone})
	pr.CloseWithError(err)
	if err != nil {
		c.remove()
		var ce contextError
		if errors.As(err, &ce) {
			return nil, errdefs.InvalidArgument(ce)
		}
		return nil, errdefs.InvalidArgument(fmt.Errorf("invalid build context: %w", err))
	}
	return c, nil
}

type contextError struct{ error }

// filterContext copies the context tar from r to w, refusing names with ".." (or absolute
// ones) and writing the secrets into secrets instead.
func filterContext(r io.Reader, w io.Writer, secrets string) error {
	tr := tar.NewReader(r)
	tw := tar.NewWriter(w)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return contextError{fmt.Errorf("invalid build context: %w", err)}
		}
		name := strings.TrimPrefix(hdr.Name, "./")
		for _, part := range strings.Split(name, "/") {
			if part == ".." {
				return contextError{fmt.Errorf("invalid build context: entry %q points outside the context", hdr.Name)}
			}
		}
		if path.IsAbs(name) {
			return contextError{fmt.Errorf("invalid build context: entry %q has an absolute path", hdr.Name)}
		}
		if hdr.Typeflag == tar.TypeLink && (path.IsAbs(hdr.Linkname) || strings.HasPrefix(path.Clean(hdr.Linkname), "..")) {
			return contextError{fmt.Errorf("invalid build context: hard link %q points outside the context", hdr.Name)}
		}
		if id, ok := strings.CutPrefix(path.Clean(name), buildctx.SecretsDir+"/"); ok {
			if hdr.Typeflag != tar.TypeReg || strings.Contains(id, "/") {
				return contextError{fmt.Errorf("invalid build context: bad secret %q", hdr.Name)}
			}
			b, err := io.ReadAll(io.LimitReader(tr, 1<<20+1))
			if err != nil {
				return err
			}
			if len(b) > 1<<20 {
				return contextError{fmt.Errorf("secret %s is larger than 1 MiB", id)}
			}
			if err := os.WriteFile(filepath.Join(secrets, id), b, 0o600); err != nil {
				return err
			}
			continue
		}
		if path.Clean(name) == buildctx.SecretsDir {
			continue
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
	return tw.Close()
}
