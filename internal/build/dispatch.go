package build

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/berthproject/berth/internal/errdefs"
	"github.com/berthproject/berth/internal/image"
	"github.com/distribution/reference"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
)

var defaultShell = []string{"/bin/sh", "-c"}

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// state is a stage being built: its current image and configuration, and the ARGs in scope.
type state struct {
	j      *job
	r      *stageRun
	runs   []*stageRun
	lex    *shell.Lex
	image  digest.Digest
	cfg    dockerspec.DockerOCIImageConfig
	author string
	args   []kv
	cmdSet bool // CMD given in this stage: ENTRYPOINT then keeps it
}

func (j *job) buildStage(ctx context.Context, r *stageRun, runs []*stageRun) (digest.Digest, error) {
	s := &state{j: j, r: r, runs: runs, lex: shell.NewLex(j.escape)}
	step := r.first
	fmt.Fprintf(r.out, "Step %d/%d : %s\n", step, r.total, r.stage.SourceCode)
	if err := s.from(ctx); err != nil {
		return "", lineError(r.stage.Location, err)
	}
	for _, c := range r.stage.Commands {
		step++
		fmt.Fprintf(r.out, "Step %d/%d : %s\n", step, r.total, c.(fmt.Stringer).String())
		if err := s.dispatch(ctx, c); err != nil {
			return "", lineError(c.Location(), err)
		}
	}
	return s.image, nil
}

// lineError names the Dockerfile line of a failed step; a failing command keeps Docker's
// message as it is.
func lineError(loc []parser.Range, err error) error {
	if _, ok := err.(*ExitError); ok || len(loc) == 0 || ctxErr(err) {
		return err
	}
	return errdefs.InvalidArgument(fmt.Errorf("%w (Dockerfile line %d)", err, loc[0].Start.Line))
}

func ctxErr(err error) bool {
	return err == context.Canceled || err == context.DeadlineExceeded
}

func (s *state) from(ctx context.Context) error {
	base, err := s.j.expandMeta(s.r.stage.BaseName)
	if err != nil {
		return err
	}
	b := s.j.b.backend
	switch k, isStage := s.j.stageIndex(base, s.r.index); {
	case isStage:
		s.image = s.runs[k].image
	case strings.EqualFold(base, "scratch"):
		if s.image, err = b.Scratch(ctx); err != nil {
			return err
		}
	default:
		if s.image, err = b.BaseImage(ctx, base, s.j.opts.Pull, s.j.opts.Auths, s.r.out); err != nil {
			return err
		}
	}
	img, err := b.ImageConfig(ctx, s.image)
	if err != nil {
		return err
	}
	s.cfg, s.author = img.Config, img.Author
	if !hasEnv(s.cfg.Env, "PATH") {
		// As Docker's builder: a stage always has a PATH, for its steps and its image.
		s.cfg.Env = append(append([]string{}, s.cfg.Env...), "PATH="+defaultPath)
	}
	if !strings.EqualFold(base, "scratch") {
		fmt.Fprintf(s.r.out, " ---> %s\n", shortID(s.image))
	}
	triggers := s.cfg.OnBuild
	s.cfg.OnBuild = nil
	if len(triggers) > 0 {
		word := "triggers"
		if len(triggers) == 1 {
			word = "trigger"
		}
		fmt.Fprintf(s.r.out, "# Executing %d build %s\n", len(triggers), word)
		for _, t := range triggers {
			ast, err := parser.Parse(strings.NewReader(t))
			if err != nil || len(ast.AST.Children) != 1 {
				return fmt.Errorf("invalid ONBUILD trigger %q", t)
			}
			c, err := instructions.ParseCommand(ast.AST.Children[0])
			if err != nil {
				return fmt.Errorf("ONBUILD trigger %q: %w", t, err)
			}
			if err := s.dispatch(ctx, c); err != nil {
				return err
			}
		}
	}
	return nil
}

// env is what words of an instruction are expanded with: the ARGs in scope, then ENV, which
// wins over an ARG of the same name.
func (s *state) env() []string {
	var env []string
	for _, a := range s.args {
		if a.value != nil {
			env = append(env, a.key+"="+*a.value)
		}
	}
	return append(env, s.cfg.Env...)
}

func (s *state) expand(word string) (string, error) {
	out, _, err := s.lex.ProcessWord(word, shell.EnvsFromSlice(s.env()))
	return out, err
}

func (s *state) shell() []string {
	if len(s.cfg.Shell) > 0 {
		return s.cfg.Shell
	}
	return defaultShell
}

// nop is the history entry of a step that only changes the configuration.
func (s *state) nop(text string) string {
	return strings.Join(s.shell(), " ") + " #(nop)  " + text
}

func (s *state) dispatch(ctx context.Context, c instructions.Command) error {
	if e, ok := c.(instructions.SupportsSingleWordExpansion); ok {
		if _, isRun := c.(*instructions.RunCommand); !isRun {
			if err := e.Expand(s.expand); err != nil {
				return err
			}
		}
	}
	switch c := c.(type) {
	case *instructions.EnvCommand:
		var parts []string
		for _, p := range c.Env {
			s.cfg.Env = setEnv(s.cfg.Env, p.Key, p.Value)
			parts = append(parts, p.Key+"="+p.Value)
		}
		return s.commitConfig(ctx, s.nop("ENV "+strings.Join(parts, " ")))
	case *instructions.LabelCommand:
		if s.cfg.Labels == nil {
			s.cfg.Labels = map[string]string{}
		}
		var parts []string
		for _, p := range c.Labels {
			s.cfg.Labels[p.Key] = p.Value
			parts = append(parts, strconv.Quote(p.Key)+"="+strconv.Quote(p.Value))
		}
		return s.commitConfig(ctx, s.nop("LABEL "+strings.Join(parts, " ")))
	case *instructions.MaintainerCommand:
		s.author = c.Maintainer
		return s.commitConfig(ctx, s.nop("MAINTAINER "+c.Maintainer))
	case *instructions.CmdCommand:
		s.cfg.Cmd = s.command(c.ShellDependantCmdLine)
		s.cmdSet = true
		return s.commitConfig(ctx, s.nop("CMD "+jsonList(s.cfg.Cmd)))
	case *instructions.EntrypointCommand:
		s.cfg.Entrypoint = s.command(c.ShellDependantCmdLine)
		if !s.cmdSet {
			s.cfg.Cmd = nil
		}
		return s.commitConfig(ctx, s.nop("ENTRYPOINT "+jsonList(s.cfg.Entrypoint)))
	case *instructions.ExposeCommand:
		ports, err := exposedPorts(c.Ports, s.expand)
		if err != nil {
			return err
		}
		if s.cfg.ExposedPorts == nil {
			s.cfg.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range ports {
			s.cfg.ExposedPorts[p] = struct{}{}
		}
		return s.commitConfig(ctx, s.nop("EXPOSE "+strings.Join(ports, " ")))
	case *instructions.VolumeCommand:
		if s.cfg.Volumes == nil {
			s.cfg.Volumes = map[string]struct{}{}
		}
		for _, v := range c.Volumes {
			if strings.TrimSpace(v) == "" {
				return fmt.Errorf("VOLUME specified can not be an empty string")
			}
			s.cfg.Volumes[v] = struct{}{}
		}
		return s.commitConfig(ctx, s.nop("VOLUME "+jsonList(c.Volumes)))
	case *instructions.UserCommand:
		s.cfg.User = c.User
		return s.commitConfig(ctx, s.nop("USER "+c.User))
	case *instructions.WorkdirCommand:
		dir := c.Path
		if !path.IsAbs(dir) {
			base := s.cfg.WorkingDir
			if base == "" {
				base = "/"
			}
			dir = path.Join(base, dir)
		}
		s.cfg.WorkingDir = path.Clean(dir)
		return s.commitConfig(ctx, s.nop("WORKDIR "+s.cfg.WorkingDir))
	case *instructions.StopSignalCommand:
		s.cfg.StopSignal = c.Signal
		return s.commitConfig(ctx, s.nop("STOPSIGNAL "+c.Signal))
	case *instructions.HealthCheckCommand:
		s.cfg.Healthcheck = c.Health
		b, _ := json.Marshal(c.Health)
		return s.commitConfig(ctx, s.nop("HEALTHCHECK "+string(b)))
	case *instructions.ShellCommand:
		s.cfg.Shell = c.Shell
		return s.commitConfig(ctx, s.nop("SHELL "+jsonList(c.Shell)))
	case *instructions.OnbuildCommand:
		s.cfg.OnBuild = append(s.cfg.OnBuild, c.Expression)
		return s.commitConfig(ctx, s.nop("ONBUILD "+c.Expression))
	case *instructions.ArgCommand:
		return s.arg(c)
	case *instructions.RunCommand:
		return s.run(ctx, c)
	case *instructions.CopyCommand:
		if c.Link || c.Parents || len(c.ExcludePatterns) > 0 {
			return fmt.Errorf("COPY --link, --parents and --exclude are not supported by this builder")
		}
		return s.copy(ctx, copyRequest{name: "COPY", sd: c.SourcesAndDest, from: c.From, chown: c.Chown, chmod: c.Chmod})
	case *instructions.AddCommand:
		if c.Link || len(c.ExcludePatterns) > 0 || c.Checksum != "" || c.KeepGitDir != nil || c.Unpack != nil {
			return fmt.Errorf("ADD --link, --exclude, --checksum, --keep-git-dir and --unpack are not supported by this builder")
		}
		return s.copy(ctx, copyRequest{name: "ADD", sd: c.SourcesAndDest, chown: c.Chown, chmod: c.Chmod, add: true})
	}
	return fmt.Errorf("unsupported instruction %s", c.Name())
}

// arg declares build arguments in the stage: a build arg's value wins over the default; an
// ARG without a default takes the global ARG's value, if any.
func (s *state) arg(c *instructions.ArgCommand) error {
	for _, a := range c.Args {
		v := a.Value
		if v == nil {
			for _, m := range s.j.metaArgs {
				if m.key == a.Key {
					v = m.value
				}
			}
		}
		if bv, ok := s.j.opts.BuildArgs[a.Key]; ok && bv != nil {
			v = bv
			s.j.useArg(a.Key)
		}
		kept := s.args[:0]
		for _, old := range s.args {
			if old.key != a.Key {
				kept = append(kept, old)
			}
		}
		s.args = append(kept, kv{a.Key, v})
	}
	fmt.Fprintf(s.r.out, " ---> %s\n", shortID(s.image))
	return nil
}

// command is a CMD or ENTRYPOINT (or RUN) as the image records it: the exec form as given,
// the shell form run by the stage's shell.
func (s *state) command(c instructions.ShellDependantCmdLine) []string {
	if !c.PrependShell {
		return append([]string{}, c.CmdLine...)
	}
	return append(append([]string{}, s.shell()...), strings.Join(c.CmdLine, " "))
}

// commitConfig records the stage's configuration as a step with no layer.
func (s *state) commitConfig(ctx context.Context, createdBy string) error {
	cfgJSON, _ := json.Marshal(s.cfg)
	key := stepKey("config", s.image.String(), createdBy, string(cfgJSON), s.author)
	if s.cached(key) {
		return nil
	}
	id, err := s.j.b.backend.ConfigStep(ctx, image.StepOptions{Parent: s.image, Config: s.cfg, CreatedBy: createdBy, Author: s.author})
	if err != nil {
		return err
	}
	return s.stepDone(key, id)
}

// cached moves the stage to the image the step made before, if the cache has it.
func (s *state) cached(key string) bool {
	if s.j.opts.NoCache {
		return false
	}
	id, ok := s.j.b.cache.get(key)
	if !ok {
		return false
	}
	s.image = id
	fmt.Fprintf(s.r.out, " ---> Using cache\n ---> %s\n", shortID(id))
	return true
}

func (s *state) stepDone(key string, id digest.Digest) error {
	s.image = id
	fmt.Fprintf(s.r.out, " ---> %s\n", shortID(id))
	return s.j.b.cache.put(key, id)
}

// containerStep runs a step in a container (see StepContainer), unless the cache has it.
func (s *state) containerStep(ctx context.Context, createdBy string, keyParts []string, sc StepContainer) error {
	cfgJSON, _ := json.Marshal(s.cfg)
	key := stepKey(append([]string{"container", s.image.String(), createdBy, string(cfgJSON), s.author}, keyParts...)...)
	if s.cached(key) {
		return nil
	}
	var started string
	sc.Parent, sc.Output = s.image, s.r.out
	sc.WorkingDir, sc.User = s.cfg.WorkingDir, s.cfg.User
	if sc.NetworkMode == "" {
		sc.NetworkMode = s.j.opts.NetworkMode
	}
	sc.Started = func(id string) {
		started = id
		fmt.Fprintf(s.r.out, " ---> Running in %s\n", id[:12])
	}
	sc.Commit = image.StepOptions{Config: s.cfg, CreatedBy: createdBy, Author: s.author}
	id, err := s.j.b.backend.ContainerStep(ctx, sc)
	if started != "" {
		fmt.Fprintf(s.r.out, "Removing intermediate container %s\n", started[:12])
	}
	if err != nil {
		return err
	}
	return s.stepDone(key, id)
}

func setEnv(env []string, k, v string) []string {
	for i, e := range env {
		if name, _, _ := strings.Cut(e, "="); name == k {
			env[i] = k + "=" + v
			return env
		}
	}
	return append(env, k+"="+v)
}

func jsonList(l []string) string {
	b, _ := json.Marshal(l)
	return string(b)
}

// exposedPorts normalizes EXPOSE's ports ("80", "53/udp", "8000-8002") to "port/proto".
func exposedPorts(specs []string, expand func(string) (string, error)) ([]string, error) {
	var out []string
	for _, spec := range specs {
		spec, err := expand(spec)
		if err != nil {
			return nil, err
		}
		port, proto, _ := strings.Cut(spec, "/")
		if proto == "" {
			proto = "tcp"
		}
		proto = strings.ToLower(proto)
		if proto != "tcp" && proto != "udp" && proto != "sctp" {
			return nil, fmt.Errorf("invalid proto: %s", proto)
		}
		lo, hi, isRange := strings.Cut(port, "-")
		start, err := strconv.ParseUint(lo, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("invalid containerPort: %s", port)
		}
		end := start
		if isRange {
			if end, err = strconv.ParseUint(hi, 10, 16); err != nil || end < start {
				return nil, fmt.Errorf("invalid containerPort: %s", port)
			}
		}
		for p := start; p <= end; p++ {
			out = append(out, fmt.Sprintf("%d/%s", p, proto))
		}
	}
	return out, nil
}

func validTag(t string) error {
	ref, err := reference.ParseNormalizedNamed(t)
	if err != nil {
		return errdefs.InvalidArgument(fmt.Errorf("invalid reference format: %w", err))
	}
	if _, ok := ref.(reference.Digested); ok {
		return errdefs.InvalidArgument(fmt.Errorf("invalid tag %q: a tag cannot hold a digest", t))
	}
	return nil
}

func familiarTag(t string) string {
	ref, err := reference.ParseNormalizedNamed(t)
	if err != nil {
		return t
	}
	return reference.FamiliarString(reference.TagNameOnly(ref))
}
