package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/moby/api/types/mount"
)

// run is RUN: the command in a container on the current image, the build args in its
// environment, its mounts given for the command only.
func (s *state) run(ctx context.Context, c *instructions.RunCommand) error {
	if err := c.Expand(s.expand); err != nil { // the --mount options
		return err
	}
	for _, f := range c.FlagsUsed {
		if f != "mount" && f != "network" {
			return fmt.Errorf("RUN --%s is not supported by this builder", f)
		}
	}
	cmd := s.runCommand(c.ShellDependantCmdLine)
	// Build args reach the command's environment (not the image's); those with a value are
	// part of the history entry and of the cache key, as in Docker.
	var argEnv, shown []string
	for _, a := range s.args {
		if a.value == nil || hasEnv(s.cfg.Env, a.key) {
			continue
		}
		argEnv = append(argEnv, a.key+"="+*a.value)
		shown = append(shown, a.key+"="+*a.value)
	}
	for k, v := range s.j.opts.BuildArgs {
		if proxyArgs[k] && v != nil && !hasEnv(argEnv, k) {
			argEnv = append(argEnv, k+"="+*v)
			s.j.useArg(k)
		}
	}
	sort.Strings(shown)
	createdBy := strings.Join(cmd, " ")
	if len(shown) > 0 {
		createdBy = fmt.Sprintf("|%d %s %s", len(shown), strings.Join(shown, " "), createdBy)
	}
	mounts, exclude, mountKey, release, err := s.runMounts(ctx, c)
	defer release()
	if err != nil {
		return err
	}
	network := s.j.opts.NetworkMode
	if n := instructions.GetNetwork(c); n != instructions.NetworkDefault {
		network = n // none or host, for this command only
		mountKey = append(mountKey, "network="+n)
	}
	return s.containerStep(ctx, createdBy, mountKey, StepContainer{
		Cmd: cmd, Env: append(append([]string{}, s.cfg.Env...), argEnv...), Mounts: mounts, Exclude: exclude, NetworkMode: network,
	})
}

// runCommand is what RUN runs. A heredoc that is the whole command is the shell's script; other
// heredocs stay in the command line, which the shell reads as heredocs.
func (s *state) runCommand(c instructions.ShellDependantCmdLine) []string {
	if !c.PrependShell {
		return append([]string{}, c.CmdLine...)
	}
	line := strings.Join(c.CmdLine, " ")
	if len(c.Files) == 1 {
		if h, err := parser.ParseHeredoc(strings.TrimSpace(line)); err == nil && h != nil && h.Name == c.Files[0].Name {
			data := c.Files[0].Data
			if c.Files[0].Chomp {
				data = parser.ChompHeredocContent(data)
			}
			return append(append([]string{}, s.shell()...), data)
		}
	}
	for _, f := range c.Files {
		line += "\n" + f.Data + f.Name
	}
	return append(append([]string{}, s.shell()...), line)
}

func hasEnv(env []string, k string) bool {
	for _, e := range env {
		if name, _, _ := strings.Cut(e, "="); name == k {
			return true
		}
	}
	return false
}

// runMounts turns RUN --mount options into the container's mounts: a cache is a directory
// kept by the builder, a bind a (read-only unless rw) path of the context or of a stage or
// image, a secret one of the files `berth build --secret` sent, a tmpfs a tmpfs. The targets
// never land in the layer. keys are what the mounts add to the step's cache key (a bind's
// content checksum); release unmounts the stages and images mounted for binds, once the
// command has run.
func (s *state) runMounts(ctx context.Context, c *instructions.RunCommand) (out []mount.Mount, exclude, keys []string, release func(), err error) {
	var releases []func()
	release = func() {
		for _, r := range releases {
			r()
		}
	}
	for _, m := range instructions.GetMounts(c) {
		target := m.Target
		if target != "" && !path.IsAbs(target) {
			base := s.cfg.WorkingDir
			if base == "" {
				base = "/"
			}
			target = path.Join(base, target)
		}
		switch m.Type {
		case instructions.MountTypeCache:
			id := m.CacheID
			if id == "" {
				id = target
			}
			sum := sha256.Sum256([]byte(id))
			dir := filepath.Join(s.j.b.cache.mounts, hex.EncodeToString(sum[:8]))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, nil, nil, release, err
			}
			if m.UID != nil || m.GID != nil {
				uid, gid := -1, -1
				if m.UID != nil {
					uid = int(*m.UID)
				}
				if m.GID != nil {
					gid = int(*m.GID)
				}
				os.Chown(dir, uid, gid)
			}
			if m.Mode != nil {
				os.Chmod(dir, os.FileMode(*m.Mode))
			}
			out = append(out, mount.Mount{Type: mount.TypeBind, Source: dir, Target: target})
		case instructions.MountTypeBind:
			root := s.j.ctx.dir
			if m.From != "" {
				dir, rel, err := s.sourceRoot(ctx, m.From)
				if err != nil {
					return nil, nil, nil, release, err
				}
				releases = append(releases, rel)
				root = dir
			}
			src, err := securejoin.SecureJoin(root, m.Source)
			if err != nil {
				return nil, nil, nil, release, err
			}
			if _, err := os.Stat(src); err != nil {
				return nil, nil, nil, release, fmt.Errorf("RUN --mount=type=bind: source %q not found", m.Source)
			}
			sum, err := checksum(copySource{path: src})
			if err != nil {
				return nil, nil, nil, release, err
			}
			keys = append(keys, "bind "+target+" "+sum)
			out = append(out, mount.Mount{Type: mount.TypeBind, Source: src, Target: target, ReadOnly: m.ReadOnly})
		case instructions.MountTypeSecret:
			id := m.CacheID
			if id == "" {
				id = m.Source
			}
			if id == "" {
				id = path.Base(target)
			}
			if target == "" {
				target = "/run/secrets/" + id
			}
			src := filepath.Join(s.j.ctx.secrets, id)
			if strings.Contains(id, "/") {
				return nil, nil, nil, release, fmt.Errorf("invalid secret id %q", id)
			}
			if _, err := os.Stat(src); err != nil {
				if m.Required {
					return nil, nil, nil, release, fmt.Errorf("secret %s: not provided (berth build --secret id=%s,src=FILE)", id, id)
				}
				continue
			}
			out = append(out, mount.Mount{Type: mount.TypeBind, Source: src, Target: target, ReadOnly: true})
		case instructions.MountTypeTmpfs:
			out = append(out, mount.Mount{Type: mount.TypeTmpfs, Target: target})
		default:
			return nil, nil, nil, release, fmt.Errorf("RUN --mount=type=%s is not supported", m.Type)
		}
		exclude = append(exclude, target)
		keys = append(keys, fmt.Sprintf("%s:%s:%s:%s:%v:%s:%s:%s", m.Type, m.CacheID, m.Source, target, m.ReadOnly, optNum(m.UID), optNum(m.GID), optNum(m.Mode)))
	}
	return out, exclude, keys, release, nil
}

func optNum(p *uint64) string {
	if p == nil {
		return "-"
	}
	return strconv.FormatUint(*p, 10)
}
