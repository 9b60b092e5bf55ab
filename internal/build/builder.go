package build

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/berthproject/berth/internal/errdefs"
	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/moby/moby/api/types/registry"
	"github.com/opencontainers/go-digest"
)

// Options are POST /build's parameters.
type Options struct {
	Dockerfile  string // path inside the context ("Dockerfile")
	Tags        []string
	BuildArgs   map[string]*string
	Labels      map[string]string
	NoCache     bool
	Pull        bool
	Quiet       bool // only the image ID is written
	Target      string
	NetworkMode string
	Platform    string
	// Auths are the client's registry credentials (X-Registry-Config), for pulling base images.
	Auths map[string]registry.AuthConfig
}

// Builder builds images; one serves every build of a daemon.
type Builder struct {
	root    string // <data-root>/build: contexts being built (tmp), the cache
	backend Backend
	cache   *Cache
}

// New opens the builder's state under root.
func New(root string, b Backend) (*Builder, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, err
	}
	os.RemoveAll(filepath.Join(root, "tmp")) // contexts of builds a crash interrupted
	c, err := openCache(root, b)
	if err != nil {
		return nil, err
	}
	return &Builder{root: root, backend: b, cache: c}, nil
}

// Cache is the build cache (usage and prune for `system df`, `builder prune`).
func (b *Builder) Cache() *Cache { return b.cache }

// Close releases the cache database.
func (b *Builder) Close() error { return b.cache.db.Close() }

// Build reads a context tar from r and builds the Dockerfile in it, writing Docker's legacy
// builder output to out. The built image is tagged with o.Tags.
func (b *Builder) Build(ctx context.Context, r io.Reader, o Options, out io.Writer) (digest.Digest, error) {
	if o.Platform != "" && o.Platform != "linux" && o.Platform != "linux/"+runtime.GOARCH {
		return "", errdefs.InvalidArgument(fmt.Errorf("platform %q is not supported: this daemon builds linux/%s", o.Platform, runtime.GOARCH))
	}
	for _, t := range o.Tags {
		if err := validTag(t); err != nil {
			return "", err
		}
	}
	bc, err := receiveContext(ctx, filepath.Join(b.root, "tmp"), r)
	if err != nil {
		return "", err
	}
	defer bc.remove()
	name := o.Dockerfile
	if name == "" {
		name = "Dockerfile"
	}
	df, err := readDockerfile(bc.dir, name)
	if err != nil {
		return "", err
	}
	ast, err := parser.Parse(bytes.NewReader(df))
	if err != nil {
		return "", errdefs.InvalidArgument(parseError(err))
	}
	stages, metaArgs, err := instructions.Parse(ast.AST, nil)
	if err != nil {
		return "", errdefs.InvalidArgument(parseError(err))
	}
	if len(stages) == 0 {
		return "", errdefs.InvalidArgument(errors.New("Dockerfile parse error: no build stage in current context: a Dockerfile must begin with a 'FROM' instruction"))
	}
	b.cache.mu.RLock()
	defer b.cache.mu.RUnlock()
	j := &job{b: b, opts: o, ctx: bc, escape: ast.EscapeToken, stages: stages, usedArgs: map[string]bool{}}
	if !o.Quiet {
		j.out = out
	} else {
		j.out = io.Discard
	}
	id, err := j.run(ctx, metaArgs)
	if err != nil {
		return "", err
	}
	if !o.Quiet {
		fmt.Fprintf(out, "Successfully built %s\n", shortID(id))
	}
	for _, t := range o.Tags {
		if err := b.backend.Tag(ctx, id, t); err != nil {
			return "", err
		}
		if !o.Quiet {
			fmt.Fprintf(out, "Successfully tagged %s\n", familiarTag(t))
		}
	}
	if o.Quiet {
		fmt.Fprintln(out, id)
	}
	return id, nil
}

func readDockerfile(dir, name string) ([]byte, error) {
	p, err := securejoin.SecureJoin(dir, name)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, errdefs.InvalidArgument(fmt.Errorf("Cannot locate specified Dockerfile: %s", name))
	}
	return b, nil
}

// parseError names the Dockerfile line, as Docker's legacy builder does.
func parseError(err error) error {
	var le *parser.LocationError
	if errors.As(err, &le) && len(le.Locations) > 0 && len(le.Locations[0]) > 0 {
		return fmt.Errorf("Dockerfile parse error line %d: %v", le.Locations[0][0].Start.Line, errors.Unwrap(le))
	}
	return fmt.Errorf("Dockerfile parse error: %v", err)
}

func shortID(id digest.Digest) string {
	e := id.Encoded()
	if len(e) > 12 {
		e = e[:12]
	}
	return e
}

// job is one build.
type job struct {
	b        *Builder
	opts     Options
	ctx      *buildContext
	escape   rune // the Dockerfile's escape token: each stage expands words with a lexer of its own (one is not safe for concurrent use)
	stages   []instructions.Stage
	out      io.Writer
	mu       sync.Mutex
	usedArgs map[string]bool
	metaArgs []kv // global ARGs (before the first FROM), with build args applied
}

type kv struct {
	key   string
	value *string
}

// stageRun is one stage being built.
type stageRun struct {
	index int
	stage instructions.Stage
	deps  map[int]bool
	done  chan struct{}
	image digest.Digest
	err   error
	out   io.Writer
	first int // the number of its first step
	total int
}

// run builds the stages the target needs, independent ones in parallel, and returns the
// target's image.
func (j *job) run(ctx context.Context, metaArgs []instructions.ArgCommand) (digest.Digest, error) {
	if err := j.evalMetaArgs(metaArgs); err != nil {
		return "", err
	}
	target := len(j.stages) - 1
	if j.opts.Target != "" {
		i, ok := instructions.HasStage(j.stages, j.opts.Target)
		if !ok {
			return "", errdefs.InvalidArgument(fmt.Errorf("failed to reach build target %s in Dockerfile", j.opts.Target))
		}
		target = i
	}
	if len(j.opts.Labels) > 0 {
		keys := make([]string, 0, len(j.opts.Labels))
		for k := range j.opts.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			j.stages[target].AddCommand(instructions.NewLabelCommand(k, j.opts.Labels[k], true))
		}
	}
	runs := make([]*stageRun, len(j.stages))
	for i := range j.stages {
		deps, err := j.stageDeps(i)
		if err != nil {
			return "", err
		}
		runs[i] = &stageRun{index: i, stage: j.stages[i], deps: deps, done: make(chan struct{})}
	}
	// The stages the target needs, in file order.
	needed := map[int]bool{}
	var mark func(int)
	mark = func(i int) {
		if needed[i] {
			return
		}
		needed[i] = true
		for d := range runs[i].deps {
			mark(d)
		}
	}
	mark(target)
	var order []*stageRun
	total := 0
	for _, r := range runs {
		if needed[r.index] {
			order = append(order, r)
			total += 1 + len(r.stage.Commands)
		}
	}
	ordered := newOrderedOutput(j.out, len(order))
	n := 1
	for i, r := range order {
		r.first, r.total, r.out = n, total, ordered.slot(i)
		n += 1 + len(r.stage.Commands)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for i, r := range order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(r.done)
			defer ordered.finish(i)
			for d := range r.deps {
				select {
				case <-runs[d].done:
					if runs[d].err != nil {
						r.err = errSkipped
						return
					}
				case <-ctx.Done():
					r.err = ctx.Err()
					return
				}
			}
			r.image, r.err = j.buildStage(ctx, r, runs)
			if r.err != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	ordered.flush()
	for _, r := range order {
		if r.err != nil && !errors.Is(r.err, errSkipped) && !errors.Is(r.err, context.Canceled) {
			return "", r.err
		}
	}
	for _, r := range order {
		if r.err != nil {
			return "", r.err
		}
	}
	j.warnUnusedArgs()
	return runs[target].image, nil
}

var errSkipped = errors.New("a stage it depends on failed")

// stageDeps are the earlier stages stage i uses: its base, COPY --from and RUN --mount from.
func (j *job) stageDeps(i int) (map[int]bool, error) {
	deps := map[int]bool{}
	add := func(name string) {
		if k, ok := j.stageIndex(name, i); ok {
			deps[k] = true
		}
	}
	base, err := j.expandMeta(j.stages[i].BaseName)
	if err != nil {
		return nil, err
	}
	add(base)
	for _, c := range j.stages[i].Commands {
		switch c := c.(type) {
		case *instructions.CopyCommand:
			if c.From != "" {
				add(c.From)
			}
		case *instructions.RunCommand:
			for _, m := range instructions.GetMounts(c) {
				if m.From != "" {
					add(m.From)
				}
			}
		}
	}
	return deps, nil
}

// stageIndex finds a stage by name or number among those before stage before.
func (j *job) stageIndex(name string, before int) (int, bool) {
	if k, ok := instructions.HasStage(j.stages[:before], name); ok {
		return k, true
	}
	if n, err := strconv.Atoi(name); err == nil && n >= 0 && n < before {
		return n, true
	}
	return 0, false
}

// evalMetaArgs evaluates the ARGs before the first FROM, build args overriding their defaults.
func (j *job) evalMetaArgs(metaArgs []instructions.ArgCommand) error {
	for _, a := range metaArgs {
		for _, arg := range a.Args {
			var v *string
			if arg.Value != nil {
				s, err := j.expandMeta(*arg.Value)
				if err != nil {
					return errdefs.InvalidArgument(err)
				}
				v = &s
			}
			if bv, ok := j.opts.BuildArgs[arg.Key]; ok && bv != nil {
				v = bv
				j.usedArgs[arg.Key] = true
			}
			j.metaArgs = append(j.metaArgs, kv{arg.Key, v})
		}
	}
	return nil
}

func (j *job) metaEnv() []string {
	var env []string
	for _, a := range j.metaArgs {
		if a.value != nil {
			env = append(env, a.key+"="+*a.value)
		}
	}
	return env
}

func (j *job) expandMeta(word string) (string, error) {
	s, _, err := shell.NewLex(j.escape).ProcessWord(word, shell.EnvsFromSlice(j.metaEnv()))
	return s, err
}

func (j *job) useArg(k string) {
	j.mu.Lock()
	j.usedArgs[k] = true
	j.mu.Unlock()
}

// warnUnusedArgs tells about build args no ARG declared, as Docker does.
func (j *job) warnUnusedArgs() {
	var unused []string
	for k := range j.opts.BuildArgs {
		if !j.usedArgs[k] && !proxyArgs[k] {
			unused = append(unused, k)
		}
	}
	if len(unused) > 0 {
		sort.Strings(unused)
		fmt.Fprintf(j.out, "[Warning] One or more build-args [%s] were not consumed\n", strings.Join(unused, " "))
	}
}

// proxyArgs are the build args every Dockerfile may use without declaring them; they are
// left out of the image's history and of the cache key.
var proxyArgs = map[string]bool{"HTTP_PROXY": true, "http_proxy": true, "HTTPS_PROXY": true, "https_proxy": true,
	"FTP_PROXY": true, "ftp_proxy": true, "NO_PROXY": true, "no_proxy": true, "ALL_PROXY": true, "all_proxy": true}

// orderedOutput writes the output of parallel stages in stage order: the first unfinished
// stage writes through, the others are held until those before them end.
type orderedOutput struct {
	mu   sync.Mutex
	w    io.Writer
	cur  int
	bufs []bytes.Buffer
	done []bool
}

func newOrderedOutput(w io.Writer, n int) *orderedOutput {
	return &orderedOutput{w: w, bufs: make([]bytes.Buffer, n), done: make([]bool, n)}
}

type slotWriter struct {
	o *orderedOutput
	i int
}

func (s slotWriter) Write(p []byte) (int, error) {
	s.o.mu.Lock()
	defer s.o.mu.Unlock()
	if s.i == s.o.cur {
		s.o.w.Write(p)
		return len(p), nil
	}
	return s.o.bufs[s.i].Write(p)
}

func (o *orderedOutput) slot(i int) io.Writer { return slotWriter{o, i} }

func (o *orderedOutput) finish(i int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.done[i] = true
	for o.cur < len(o.done) && o.done[o.cur] {
		o.cur++
		if o.cur < len(o.done) {
			o.w.Write(o.bufs[o.cur].Bytes())
			o.bufs[o.cur].Reset()
		}
	}
}

// flush writes whatever is still held (after a failure).
func (o *orderedOutput) flush() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := o.cur; i < len(o.bufs); i++ {
		o.w.Write(o.bufs[i].Bytes())
		o.bufs[i].Reset()
	}
	o.cur = len(o.bufs)
}
