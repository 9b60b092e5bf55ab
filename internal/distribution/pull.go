package distribution

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/berthproject/berth/internal/errdefs"
	"github.com/berthproject/berth/internal/image"
	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Registry pulls into and pushes from an image service.
type Registry struct {
	Images *image.Service
	// InsecureRegistries are hosts ("host:port") or CIDRs reached over plain HTTP or unverified
	// TLS, besides 127.0.0.0/8 and localhost.
	InsecureRegistries []string
	Transport          http.RoundTripper
	UserAgent          string
	Mirrors            []string // Docker Hub mirrors (daemon.json registry-mirrors), tried in order
}

// PullOptions are those of POST /images/create?fromImage=.
type PullOptions struct {
	Platform string // "os/arch[/variant]"; the daemon's own when empty
	AllTags  bool
	Auth     authn.Authenticator // nil: anonymous
}

// Insecure reports whether a registry host is reached without TLS verification.
func (r *Registry) Insecure(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	if ip != nil && ip.IsLoopback() {
		return true
	}
	for _, s := range r.InsecureRegistries {
		if s == host || s == h {
			return true
		}
		if _, n, err := net.ParseCIDR(s); err == nil && ip != nil && n.Contains(ip) {
			return true
		}
	}
	return false
}

func (r *Registry) gref(ref reference.Named) (name.Reference, error) {
	var opts []name.Option
	if r.Insecure(reference.Domain(ref)) {
		opts = append(opts, name.Insecure)
	}
	gr, err := name.ParseReference(ref.String(), opts...)
	if err != nil {
		return nil, errdefs.InvalidArgument(err)
	}
	return gr, nil
}

func (r *Registry) remoteOptions(ctx context.Context, auth authn.Authenticator) []remote.Option {
	if auth == nil {
		auth = authn.Anonymous
	}
	t := r.Transport
	if t == nil {
		t = http.DefaultTransport
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuth(auth), remote.WithTransport(t)}
	if r.UserAgent != "" {
		opts = append(opts, remote.WithUserAgent(r.UserAgent))
	}
	return opts
}

// ParsePlatform reads "os/arch[/variant]" (or "arch" alone).
func ParsePlatform(s string) (v1.Platform, error) {
	if s == "" {
		return v1.Platform{OS: "linux", Architecture: runtime.GOARCH}, nil
	}
	p, err := v1.ParsePlatform(s)
	if err != nil || p.OS == "" {
		return v1.Platform{}, errdefs.InvalidArgument(fmt.Errorf("%q: unknown operating system or architecture: invalid argument", s))
	}
	if p.Architecture == "" {
		p.Architecture, p.OS = p.OS, "linux"
	}
	if p.Architecture == "arm64" && p.Variant == "v8" {
		p.Variant = ""
	}
	return *p, nil
}

// Pull fetches an image (or every tag of a repository) into the image service. start is called
// once, when the manifest is resolved, for the output of the rest: errors before it (a bad
// reference, a missing manifest, refused credentials) are the caller's to answer.
func (r *Registry) Pull(ctx context.Context, fromImage, tag string, opts PullOptions, start func() Output) error {
	named, err := reference.ParseNormalizedNamed(fromImage)
	if err != nil {
		return errdefs.InvalidArgument(fmt.Errorf("invalid reference format: %w", err))
	}
	plat, err := ParsePlatform(opts.Platform)
	if err != nil {
		return err
	}
	if opts.AllTags && tag == "" {
		return r.pullAll(ctx, reference.TrimNamed(named), plat, opts, start)
	}
	if tag != "" {
		if strings.Contains(tag, ":") {
			d, err := digest.Parse(tag)
			if err != nil {
				return errdefs.InvalidArgument(fmt.Errorf("invalid reference format: %w", err))
			}
			named, err = reference.WithDigest(reference.TrimNamed(named), d)
			if err != nil {
				return errdefs.InvalidArgument(err)
			}
		} else if named, err = reference.WithTag(reference.TrimNamed(named), tag); err != nil {
			return errdefs.InvalidArgument(fmt.Errorf("invalid reference format: %w", err))
		}
	}
	named = reference.TagNameOnly(named)
	job, err := r.resolve(ctx, named, plat, opts)
	if err != nil {
		return err
	}
	out := start()
	id := ""
	if t, ok := named.(reference.Tagged); ok {
		id = t.Tag()
	} else if d, ok := named.(reference.Digested); ok {
		id = d.Digest().String()
	}
	out(Message{Status: "Pulling from " + reference.Path(named), ID: id})
	status, err := job.fetch(ctx, out)
	if err != nil {
		return err
	}
	out.plain("Digest: " + job.top.String())
	out.plain(fmt.Sprintf("Status: %s for %s", status, reference.FamiliarString(named)))
	return nil
}

func (r *Registry) pullAll(ctx context.Context, repo reference.Named, plat v1.Platform, opts PullOptions, start func() Output) error {
	grepo, err := r.gref(reference.TagNameOnly(repo))
	if err != nil {
		return err
	}
	tags, err := remote.List(grepo.Context(), r.remoteOptions(ctx, opts.Auth)...)
	if err != nil {
		return registryError(reference.FamiliarString(repo), err)
	}
	sort.Strings(tags)
	var jobs []*pullJob
	for _, t := range tags {
		named, err := reference.WithTag(repo, t)
		if err != nil {
			continue
		}
		job, err := r.resolve(ctx, named, plat, opts)
		if err != nil {
			return err
		}
		jobs = append(jobs, job)
	}
	out := start()
	newer := false
	for _, job := range jobs {
		out(Message{Status: "Pulling from " + reference.Path(repo), ID: job.ref.(reference.Tagged).Tag()})
		status, err := job.fetch(ctx, out)
		if err != nil {
			return err
		}
		newer = newer || status != statusUpToDate
		out.plain("Digest: " + job.top.String())
	}
	if newer {
		out.plain("Status: Downloaded newer image for " + reference.FamiliarString(repo))
	} else {
		out.plain("Status: Image is up to date for " + reference.FamiliarString(repo))
	}
	return nil
}

const (
	statusNewer    = "Downloaded newer image"
	statusUpToDate = "Image is up to date"
)

// pullJob is one resolved image: its manifest (chosen in an index for the platform) and config.
type pullJob struct {
	r    *Registry
	ref  reference.Named
	repo name.Repository
	opts []remote.Option
	auth authn.Authenticator // nil: anonymous
	top  digest.Digest       // what the reference names: the index or the manifest
	// blobs reads the repository's blobs, authorized as the registry asks (made once, by blobClient).
	blobsOnce sync.Once
	blobs     *http.Client
	blobsErr  error
	manifest  []byte
	mdigest   digest.Digest
	config    []byte
	m         image.Manifest
	img       ocispec.Image
}

// mirrorRef is a Docker Hub reference on a mirror ("https://mirror.example" or "host:port").
func (r *Registry) mirrorRef(mirror string, named reference.Named) (name.Reference, error) {
	host := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(mirror, "https://"), "http://"), "/")
	var opts []name.Option
	if r.Insecure(host) || strings.HasPrefix(mirror, "http://") {
		opts = append(opts, name.Insecure)
	}
	s := host + "/" + reference.Path(named)
	if t, ok := named.(reference.Tagged); ok {
		s += ":" + t.Tag()
	} else if d, ok := named.(reference.Digested); ok {
		s += "@" + d.Digest().String()
	}
	return name.ParseReference(s, opts...)
}

func (r *Registry) resolve(ctx context.Context, named reference.Named, plat v1.Platform, opts PullOptions) (*pullJob, error) {
	gr, err := r.gref(named)
	if err != nil {
		return nil, err
	}
	ropts := r.remoteOptions(ctx, opts.Auth)
	auth := opts.Auth
	// Docker Hub images come from the first mirror that has them, then from Docker Hub.
	var desc *remote.Descriptor
	if reference.Domain(named) == "docker.io" {
		for _, m := range r.Mirrors {
			mr, err := r.mirrorRef(m, named)
			if err != nil {
				continue
			}
			if d, err := remote.Get(mr, r.remoteOptions(ctx, nil)...); err == nil {
				desc, gr, ropts, auth = d, mr, r.remoteOptions(ctx, nil), nil
				break
			}
		}
	}
	if desc == nil {
		if desc, err = remote.Get(gr, ropts...); err != nil {
			// go-containerregistry checks a manifest asked for by digest (an untyped error).
			if d, ok := named.(reference.Digested); ok && strings.Contains(err.Error(), "does not match requested digest") {
				return nil, errdefs.InvalidArgument(fmt.Errorf("manifest verification failed for digest %s", d.Digest()))
			}
			return nil, registryError(reference.FamiliarString(named), err)
		}
	}
	job := &pullJob{r: r, ref: named, repo: gr.Context(), opts: ropts, auth: auth, top: digest.Digest(desc.Digest.String())}
	if desc.MediaType.IsIndex() {
		idx, err := v1.ParseIndexManifest(bytes.NewReader(desc.Manifest))
		if err != nil {
			return nil, errdefs.InvalidArgument(fmt.Errorf("manifest list %s: %w", desc.Digest, err))
		}
		var chosen *v1.Descriptor
		for i, m := range idx.Manifests {
			if m.Platform != nil && matchPlatform(*m.Platform, plat) && m.MediaType.IsImage() {
				chosen = &idx.Manifests[i]
				break
			}
		}
		if chosen == nil {
			return nil, errdefs.NotFound(fmt.Errorf("no matching manifest for %s in the manifest list entries", platformString(plat)))
		}
		desc, err = remote.Get(gr.Context().Digest(chosen.Digest.String()), ropts...)
		if err != nil {
			return nil, registryError(reference.FamiliarString(named), err)
		}
	}
	switch desc.MediaType {
	case types.DockerManifestSchema1, types.DockerManifestSchema1Signed:
		return nil, errdefs.InvalidArgument(fmt.Errorf("%s: Docker Image manifest version 2, schema 1 is not supported", reference.FamiliarString(named)))
	}
	if !desc.MediaType.IsImage() {
		return nil, errdefs.InvalidArgument(fmt.Errorf("%s: unsupported manifest media type %s", reference.FamiliarString(named), desc.MediaType))
	}
	job.manifest = desc.Manifest
	job.mdigest = digest.Digest(desc.Digest.String())
	if len(desc.Manifest) > 4<<20 {
		return nil, errdefs.InvalidArgument(fmt.Errorf("manifest %s is too large", desc.Digest))
	}
	if err := json.Unmarshal(desc.Manifest, &job.m); err != nil {
		return nil, errdefs.InvalidArgument(fmt.Errorf("manifest %s: %w", desc.Digest, err))
	}
	if _, err := r.Images.Content().Stat(job.m.Config.Digest); err == nil {
		f, err := r.Images.Content().Open(job.m.Config.Digest)
		if err == nil {
			job.config, _ = io.ReadAll(f)
			f.Close()
		}
	}
	if job.config == nil {
		img, err := desc.Image()
		if err != nil {
			return nil, registryError(reference.FamiliarString(named), err)
		}
		if job.config, err = img.RawConfigFile(); err != nil {
			return nil, registryError(reference.FamiliarString(named), err)
		}
		if got := digest.FromBytes(job.config); got != job.m.Config.Digest {
			return nil, errdefs.InvalidArgument(fmt.Errorf("image config verification failed for digest %s", job.m.Config.Digest))
		}
	}
	if err := json.Unmarshal(job.config, &job.img); err != nil {
		return nil, errdefs.InvalidArgument(fmt.Errorf("image config %s: %w", job.m.Config.Digest, err))
	}
	if opts.Platform != "" && !matchPlatform(v1.Platform{OS: job.img.OS, Architecture: job.img.Architecture, Variant: job.img.Variant}, plat) {
		return nil, errdefs.NotFound(fmt.Errorf("image with reference %s was found but does not match the specified platform: wanted %s, actual: %s/%s",
			reference.FamiliarString(named), platformString(plat), job.img.OS, job.img.Architecture))
	}
	if len(job.img.RootFS.DiffIDs) != len(job.m.Layers) {
		return nil, errdefs.InvalidArgument(fmt.Errorf("manifest %s has %d layers but its config %d diff IDs", job.mdigest, len(job.m.Layers), len(job.img.RootFS.DiffIDs)))
	}
	return job, nil
}

func matchPlatform(have, want v1.Platform) bool {
	if have.OS != want.OS || have.Architecture != want.Architecture {
		return false
	}
	hv := have.Variant
	if have.Architecture == "arm64" && hv == "v8" {
		hv = ""
	}
	return want.Variant == "" || want.Variant == hv
}

func platformString(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// fetch downloads the missing layers (three at a time), then unpacks and registers the image.
func (j *pullJob) fetch(ctx context.Context, out Output) (string, error) {
	images := j.r.Images
	cs := images.Content()
	defer images.Lease()() // what is downloaded is not an image's until it is registered
	existed := images.HasImage(j.m.Config.Digest)
	// in[i] is closed once layer i's blob is in the content store.
	in := make([]chan struct{}, len(j.m.Layers))
	var need []int
	for i, l := range j.m.Layers {
		in[i] = make(chan struct{})
		_, blobErr := cs.Stat(l.Digest)
		if images.HasLayer(ctx, identity.ChainID(j.img.RootFS.DiffIDs[:i+1])) && blobErr == nil {
			out.status(shortDigest(l.Digest.String()), "Already exists")
			close(in[i])
			continue
		}
		out.status(shortDigest(l.Digest.String()), "Pulling fs layer")
		if blobErr != nil {
			need = append(need, i)
		} else {
			close(in[i])
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	locked := func(m Message) { mu.Lock(); out(m); mu.Unlock() }
	sem := make(chan struct{}, 3)
	errs := make([]error, len(need))
	var wg sync.WaitGroup
	for n, i := range need {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := j.download(ctx, j.m.Layers[i], locked); err != nil {
				errs[n] = err
				cancel()
				return
			}
			close(in[i])
		}()
	}
	// Each layer is unpacked as soon as it and those below it are in, while the others download.
	var unpackErr error
	unpacked := make(chan struct{})
	go func() {
		defer close(unpacked)
		for i, l := range j.m.Layers {
			select {
			case <-in[i]:
			case <-ctx.Done():
				return
			}
			id := shortDigest(l.Digest.String())
			was, err := images.UnpackLayer(ctx, l, j.img.RootFS.DiffIDs, i, func(e image.UnpackEvent) {
				Output(locked).progress(id, "Extracting", e.Current, e.Total)
			})
			if err != nil {
				unpackErr = err
				cancel()
				return
			}
			if !was {
				Output(locked).status(id, "Pull complete")
			}
		}
	}()
	wg.Wait()
	<-unpacked
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return "", err
		}
	}
	if unpackErr != nil && !errors.Is(unpackErr, context.Canceled) {
		return "", unpackErr
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if _, err := cs.Write(ctx, bytes.NewReader(j.config), j.m.Config.Digest, int64(len(j.config))); err != nil {
		return "", err
	}
	if _, err := cs.Write(ctx, bytes.NewReader(j.manifest), j.mdigest, int64(len(j.manifest))); err != nil {
		return "", err
	}
	var tags []reference.Named
	if _, ok := j.ref.(reference.Tagged); ok {
		tags = append(tags, j.ref)
	}
	repoDigest := reference.TrimNamed(j.ref).String() + "@" + j.top.String()
	_, err := images.Register(ctx, j.mdigest, image.RegisterOptions{Tags: tags, RepoDigest: repoDigest, Progress: func(e image.UnpackEvent) {
		switch {
		case e.Done && !e.Existed:
			out.status(shortDigest(e.Layer.String()), "Pull complete")
		case !e.Done:
			out.progress(shortDigest(e.Layer.String()), "Extracting", e.Current, e.Total)
		}
	}})
	if err != nil {
		return "", err
	}
	if existed {
		return statusUpToDate, nil
	}
	return statusNewer, nil
}

// blobClient is an HTTP client for the repository's blobs, with the authorization
// go-containerregistry negotiates (anonymous, basic or a bearer token for pull).
func (j *pullJob) blobClient(ctx context.Context) (*http.Client, error) {
	j.blobsOnce.Do(func() {
		auth := j.auth
		if auth == nil {
			auth = authn.Anonymous
		}
		t := j.r.Transport
		if t == nil {
			t = http.DefaultTransport
		}
		if j.r.UserAgent != "" {
			t = transport.NewUserAgent(t, j.r.UserAgent)
		}
		rt, err := transport.NewWithContext(ctx, j.repo.Registry, auth, t, []string{j.repo.Scope(transport.PullScope)})
		j.blobs, j.blobsErr = &http.Client{Transport: rt}, err
	})
	return j.blobs, j.blobsErr
}

// download stores a layer blob in the content store, which checks its digest and size as it
// writes: fetched directly rather than through go-containerregistry's layer, whose reader would
// hash the same bytes a second time.
func (j *pullJob) download(ctx context.Context, l ocispec.Descriptor, out Output) error {
	id := shortDigest(l.Digest.String())
	client, err := j.blobClient(ctx)
	if err != nil {
		return registryError(reference.FamiliarString(j.ref), err)
	}
	u := url.URL{Scheme: j.repo.Registry.Scheme(), Host: j.repo.RegistryStr(), Path: "/v2/" + j.repo.RepositoryStr() + "/blobs/" + l.Digest.String()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return registryError(reference.FamiliarString(j.ref), err)
	}
	defer resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		return registryError(reference.FamiliarString(j.ref), err)
	}
	rc := resp.Body
	pr := &countReader{r: rc, fn: func(n int64) { out.progress(id, "Downloading", n, l.Size) }}
	if _, err := j.r.Images.Content().Write(ctx, pr, l.Digest, l.Size); err != nil {
		// The registry sent other bytes than the digest names (go-containerregistry checks while
		// reading, the content store at the end): dockerd's words.
		if strings.Contains(err.Error(), "error verifying") || errdefs.Is(err, errdefs.KindInvalidArgument) {
			return errdefs.InvalidArgument(fmt.Errorf("filesystem layer verification failed for digest %s", l.Digest))
		}
		return fmt.Errorf("layer %s: %w", l.Digest, err)
	}
	out.status(id, "Verifying Checksum")
	out.status(id, "Download complete")
	return nil
}

type countReader struct {
	r    io.Reader
	n    int64
	last int64
	fn   func(int64)
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n-c.last >= 256<<10 {
		c.last = c.n
		c.fn(c.n)
	}
	return n, err
}

// registryError words a registry's answer as dockerd does and gives it an errdefs kind.
func registryError(ref string, err error) error {
	var terr *transport.Error
	if errors.As(err, &terr) {
		switch terr.StatusCode {
		case http.StatusNotFound:
			msg := "manifest unknown"
			if len(terr.Errors) > 0 {
				msg = strings.ToLower(string(terr.Errors[0].Code)) + ": " + terr.Errors[0].Message
				msg = strings.ReplaceAll(msg, "_", " ")
			}
			if !strings.Contains(ref, ":") && !strings.Contains(ref, "@") {
				ref += ":latest"
			}
			return errdefs.NotFound(fmt.Errorf("manifest for %s not found: %s", ref, msg))
		case http.StatusUnauthorized, http.StatusForbidden:
			return errdefs.Unauthorized(fmt.Errorf("pull access denied for %s, repository does not exist or may require 'docker login': %w", strings.SplitN(ref, ":", 2)[0], err))
		}
	}
	return errdefs.Unavailable(err)
}
