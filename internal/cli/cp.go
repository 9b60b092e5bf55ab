package cli

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
	"syscall"

	"github.com/berthproject/berth/internal/archive"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// cpCmd is `berth cp`, docker's rules: a trailing "/." copies a directory's content, a
// destination that is an existing directory receives the source under its own name, "-" is a tar
// stream on stdin or stdout. Extraction on either side is confined to the destination
// (internal/archive on the host, the daemon in the container).
func cpCmd(e *env) *cobra.Command {
	var followLink, copyUIDGID bool
	cmd := &cobra.Command{
		Use:   "cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n  berth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
		Short: "Copy files/folders between a container and the local filesystem",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			srcC, srcPath := splitCpArg(args[0])
			dstC, dstPath := splitCpArg(args[1])
			if srcPath == "" {
				return statusError{status: 1, err: errors.New("source can not be empty")}
			}
			if dstPath == "" {
				return statusError{status: 1, err: errors.New("destination can not be empty")}
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			switch {
			case srcC != "" && dstC == "":
				return copyFromContainer(cmd.Context(), e, c, srcC, srcPath, dstPath, followLink)
			case srcC == "" && dstC != "":
				return copyToContainer(cmd.Context(), e, c, srcPath, dstC, dstPath, followLink, copyUIDGID)
			case srcC != "" && dstC != "":
				return statusError{status: 1, err: errors.New("copying between containers is not supported")}
			}
			return statusError{status: 1, err: errors.New("must specify at least one container source")}
		},
	}
	cmd.Flags().BoolVarP(&followLink, "follow-link", "L", false, "Always follow symbol link in SRC_PATH")
	cmd.Flags().BoolVarP(&copyUIDGID, "archive", "a", false, "Archive mode (copy all uid/gid information)")
	cmd.Flags().BoolP("quiet", "q", false, "Suppress progress output during copy")
	return cmd
}

// splitCpArg splits CONTAINER:PATH; a path starting with "/" or "." is local even with a colon.
func splitCpArg(arg string) (container, p string) {
	if filepath.IsAbs(arg) || strings.HasPrefix(arg, ".") {
		return "", arg
	}
	c, p, ok := strings.Cut(arg, ":")
	if !ok {
		return "", arg
	}
	return c, p
}

func endsInDot(p string) bool { return strings.HasSuffix(p, "/.") || p == "." }
func endsInSep(p string) bool { return strings.HasSuffix(p, "/") }

func copyFromContainer(ctx context.Context, e *env, c *client.Client, ctr, src, dst string, follow bool) error {
	if !path.IsAbs(src) {
		src = "/" + src
	}
	if follow {
		st, err := c.ContainerStatPath(ctx, ctr, client.ContainerStatPathOptions{Path: src})
		if err != nil {
			return err
		}
		if st.Stat.Mode&os.ModeSymlink != 0 && st.Stat.LinkTarget != "" {
			src = st.Stat.LinkTarget
		}
	}
	res, err := c.CopyFromContainer(ctx, ctr, client.CopyFromContainerOptions{SourcePath: src})
	if err != nil {
		return err
	}
	defer res.Content.Close()
	if dst == "-" {
		_, err := io.Copy(e.out, res.Content)
		return err
	}
	srcIsDir := res.Stat.Mode.IsDir()
	from := res.Stat.Name
	if endsInDot(src) {
		from = "."
	}
	var dir, to string
	fi, err := os.Stat(dst)
	switch {
	case err == nil && fi.IsDir():
		dir, to = dst, from
		if endsInDot(src) {
			to = "."
		}
	case err == nil:
		if srcIsDir {
			return statusError{status: 1, err: fmt.Errorf("cannot copy a directory to a file")}
		}
		dir, to = filepath.Dir(dst), filepath.Base(dst)
	case errors.Is(err, os.ErrNotExist):
		if endsInSep(dst) && !srcIsDir {
			return statusError{status: 1, err: fmt.Errorf("destination directory %s does not exist", dst)}
		}
		dir, to = filepath.Dir(filepath.Clean(dst)), filepath.Base(filepath.Clean(dst))
		if _, err := os.Stat(dir); err != nil {
			return statusError{status: 1, err: fmt.Errorf("destination directory %s does not exist", dir)}
		}
	default:
		return err
	}
	_, err = archive.Apply(ctx, dir, rebase(res.Content, from, to), archive.ApplyOptions{Whiteouts: archive.WhiteoutNone, Owner: hostOwner()})
	return err
}

// hostOwner: a root user keeps the archive's owners (as docker's cp does); another gets files
// of its own.
func hostOwner() *archive.Owner {
	if os.Geteuid() == 0 {
		return nil
	}
	return &archive.Owner{UID: os.Geteuid(), GID: os.Getegid()}
}

// rebase renames a tar's top entry from to to ("." keeps names below it).
func rebase(r io.Reader, from, to string) io.Reader {
	if from == to {
		return r
	}
	pr, pw := io.Pipe()
	go func() {
		tr, tw := tar.NewReader(r), tar.NewWriter(pw)
		err := func() error {
			for {
				hdr, err := tr.Next()
				if errors.Is(err, io.EOF) {
					return tw.Close()
				}
				if err != nil {
					return err
				}
				hdr.Name = rename(hdr.Name, from, to)
				if hdr.Typeflag == tar.TypeLink {
					hdr.Linkname = rename(hdr.Linkname, from, to)
				}
				if err := tw.WriteHeader(hdr); err != nil {
					return err
				}
				if _, err := io.Copy(tw, tr); err != nil {
					return err
				}
			}
		}()
		pw.CloseWithError(err)
	}()
	return pr
}

func rename(name, from, to string) string {
	trimmed := strings.TrimPrefix(name, "./")
	f := strings.TrimPrefix(from, "./")
	if f == "." {
		return path.Join(to, trimmed)
	}
	if trimmed == f || trimmed == f+"/" {
		return to + strings.TrimPrefix(trimmed, f)
	}
	if strings.HasPrefix(trimmed, f+"/") {
		return to + trimmed[len(f):]
	}
	return name
}

func copyToContainer(ctx context.Context, e *env, c *client.Client, src, ctr, dst string, follow, copyUIDGID bool) error {
	if !path.IsAbs(dst) {
		dst = "/" + dst
	}
	if src == "-" {
		_, err := c.CopyToContainer(ctx, ctr, client.CopyToContainerOptions{DestinationPath: dst, Content: e.in, CopyUIDGID: copyUIDGID})
		return err
	}
	if follow {
		if target, err := filepath.EvalSymlinks(src); err == nil {
			src = target
		}
	}
	fi, err := os.Lstat(src)
	if err != nil {
		return statusError{status: 1, err: fmt.Errorf("lstat %s: %w", src, errors.Unwrap(err))}
	}
	name := filepath.Base(src)
	if endsInDot(src) {
		name = "."
	}
	dir, to := dst, name
	st, err := c.ContainerStatPath(ctx, ctr, client.ContainerStatPathOptions{Path: dst})
	switch {
	case err == nil && st.Stat.Mode.IsDir():
	case err == nil:
		if fi.IsDir() {
			return statusError{status: 1, err: fmt.Errorf("cannot copy a directory to a file")}
		}
		dir, to = path.Dir(dst), path.Base(dst)
	default:
		if endsInSep(dst) {
			return statusError{status: 1, err: fmt.Errorf("destination directory %s does not exist", dst)}
		}
		dir, to = path.Dir(path.Clean(dst)), path.Base(path.Clean(dst))
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeHostTar(pw, src, to)) }()
	_, err = c.CopyToContainer(ctx, ctr, client.CopyToContainerOptions{DestinationPath: dir, Content: pr, CopyUIDGID: copyUIDGID})
	pr.Close()
	return err
}

// writeHostTar archives the host path src under the name to ("." for its content).
func writeHostTar(w io.Writer, src, to string) error {
	tw := tar.NewWriter(w)
	inodes := map[uint64]string{}
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		name := filepath.ToSlash(filepath.Join(to, rel))
		link := ""
		if fi.Mode()&os.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return nil // sockets
		}
		hdr.Name = name
		if fi.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uname, hdr.Gname = "", ""
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && fi.Mode().IsRegular() && st.Nlink > 1 {
			if first, ok := inodes[st.Ino]; ok {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
				return tw.WriteHeader(hdr)
			}
			inodes[st.Ino] = name
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(tw, io.LimitReader(f, fi.Size()))
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
