package daemon

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/berthproject/berth/internal/container"
	"github.com/berthproject/berth/internal/image"
	ctypes "github.com/moby/moby/api/types/container"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

// commitOptions are POST /commit's parameters.
type commitOptions struct {
	Ref, Author, Comment string
	Changes              []string
	Pause                bool
	Config               *ctypes.Config // overrides from the request body
}

// ContainerCommit answers POST /commit.
func (d *Daemon) ContainerCommit(ctx context.Context, ref, newRef, author, comment string, changes []string, pause bool, cfg *ctypes.Config) (string, error) {
	return d.commit(ctx, ref, commitOptions{Ref: newRef, Author: author, Comment: comment, Changes: changes, Pause: pause, Config: cfg})
}

// commit: the container's layer (its overlay upper directory, with
// deletions as ".wh." entries) becomes a new layer over its image.
func (d *Daemon) commit(ctx context.Context, ref string, o commitOptions) (string, error) {
	c, err := d.containers.Get(ref)
	if err != nil {
		return "", err
	}
	if o.Pause && c.Status == container.StatusRunning {
		if err := d.ContainerPause(ctx, c.ID); err == nil {
			defer d.ContainerUnpause(context.WithoutCancel(ctx), c.ID)
		}
	}
	img, err := d.images.Resolve(ctx, c.ImageID)
	if err != nil {
		return "", err
	}
	upper, _, err := d.layerDirs(ctx, c.ID)
	if err != nil {
		return "", err
	}
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := writeLayer(ctx, tw, upper)
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	id, err := d.images.Commit(ctx, pr, image.CommitOptions{
		Parent: img.ID, Ref: o.Ref, Config: commitConfig(img.Config, c, o.Config), Changes: o.Changes,
		Author: o.Author, Comment: o.Comment, CreatedBy: strings.Join(append([]string{c.Path}, c.Args...), " "),
	})
	pr.Close()
	if err != nil {
		return "", err
	}
	d.event(c, "commit", map[string]string{"comment": o.Comment, "imageID": id.String(), "imageRef": o.Ref})
	return id.String(), nil
}

// commitConfig is the new image's configuration: the image's, with what the container (and the
// request) set on top, as docker commit records it.
func commitConfig(base ocispec.ImageConfig, c *container.Container, over *ctypes.Config) ocispec.ImageConfig {
	cfg := base
	for _, src := range []*ctypes.Config{c.Config, over} {
		if src == nil {
			continue
		}
		for _, kv := range src.Env {
			k, _, _ := strings.Cut(kv, "=")
			replaced := false
			for i, old := range cfg.Env {
				if ok, _, _ := strings.Cut(old, "="); ok == k {
					cfg.Env[i], replaced = kv, true
				}
			}
			if !replaced {
				cfg.Env = append(cfg.Env, kv)
			}
		}
		if len(src.Cmd) > 0 {
			cfg.Cmd = src.Cmd
		}
		if len(src.Entrypoint) > 0 {
			cfg.Entrypoint = src.Entrypoint
		}
		if src.User != "" {
			cfg.User = src.User
		}
		if src.WorkingDir != "" {
			cfg.WorkingDir = src.WorkingDir
		}
		if src.StopSignal != "" {
			cfg.StopSignal = src.StopSignal
		}
		for k, v := range src.Labels {
			if cfg.Labels == nil {
				cfg.Labels = map[string]string{}
			}
			cfg.Labels[k] = v
		}
		for v := range src.Volumes {
			if cfg.Volumes == nil {
				cfg.Volumes = map[string]struct{}{}
			}
			cfg.Volumes[v] = struct{}{}
		}
	}
	return cfg
}

// writeLayer writes an overlay upper directory as a layer tar: whiteout devices become ".wh."
// files, opaque directories get ".wh..wh..opq"; Docker's init-layer paths are left out.
func writeLayer(ctx context.Context, tw *tar.Writer, upper string) error {
	return writeLayerExcept(ctx, tw, upper, nil)
}

// writeLayerExcept is writeLayer leaving out the paths of skip too (a build step's mount
// targets).
func writeLayerExcept(ctx context.Context, tw *tar.Writer, upper string, skip map[string]bool) error {
	root, err := os.Open(upper)
	if err != nil {
		return err
	}
	defer root.Close()
	return layerDir(ctx, tw, int(root.Fd()), "", skip)
}

func layerDir(ctx context.Context, tw *tar.Writer, dirfd int, rel string, skip map[string]bool) error {
	fd, err := unix.Openat(dirfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	dir := os.NewFile(uintptr(fd), rel)
	names, err := dir.Readdirnames(-1)
	dir.Close()
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, n := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		p := rel + "/" + n
		if initPaths[p] || skip[p] {
			continue
		}
		var st unix.Stat_t
		if err := unix.Fstatat(dirfd, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "/")
		if isWhiteout(&st) {
			wh := ".wh." + n
			if i := strings.LastIndex(name, "/"); i >= 0 {
				wh = name[:i+1] + wh
			}
			if err := tw.WriteHeader(&tar.Header{Name: wh, Typeflag: tar.TypeReg, Mode: 0o600, ModTime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec)}); err != nil {
				return err
			}
			continue
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			if err := writeTree(ctx, tw, dirfd, n, name, map[uint64]string{}); err != nil {
				return err
			}
			continue
		}
		hdr := &tar.Header{Name: name + "/", Typeflag: tar.TypeDir, Mode: int64(st.Mode & 0o7777), Uid: int(st.Uid), Gid: int(st.Gid),
			ModTime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec), Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		sub, err := unix.Openat(dirfd, n, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		buf := make([]byte, 8)
		if n, err := unix.Fgetxattr(sub, "trusted.overlay.opaque", buf); err == nil && string(buf[:n]) == "y" {
			if err := tw.WriteHeader(&tar.Header{Name: name + "/.wh..wh..opq", Typeflag: tar.TypeReg, Mode: 0o600}); err != nil {
				unix.Close(sub)
				return err
			}
		}
		err = layerDir(ctx, tw, sub, p, skip)
		unix.Close(sub)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	return nil
}
