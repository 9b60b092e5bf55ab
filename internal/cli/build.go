package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/berthproject/berth/internal/build/buildctx"
	units "github.com/docker/go-units"
	buildtypes "github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/jsonmessage"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
)

type buildFlags struct {
	file, target, iidfile, platform, network, progress string
	tags, buildArgs, labels, secrets                   []string
	noCache, pull, quiet                               bool
}

// buildCmd is `berth build`: the context (a directory, or a tar or a Dockerfile on stdin) is
// sent to POST /build as a tar, .dockerignore applied; the legacy builder's output is shown.
func buildCmd(e *env) *cobra.Command {
	var f buildFlags
	cmd := &cobra.Command{
		Use:   "build [OPTIONS] PATH | -",
		Short: "Build an image from a Dockerfile",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBuild(cmd, e, &f, args[0])
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.file, "file", "f", "", "Name of the Dockerfile (default: \"PATH/Dockerfile\")")
	fl.StringArrayVarP(&f.tags, "tag", "t", nil, "Name and optionally a tag in the \"name:tag\" format")
	fl.StringArrayVar(&f.buildArgs, "build-arg", nil, "Set build-time variables")
	fl.StringArrayVar(&f.labels, "label", nil, "Set metadata for an image")
	fl.StringArrayVar(&f.secrets, "secret", nil, "Secret to expose to the build: id=mysecret,src=/local/secret")
	fl.BoolVar(&f.noCache, "no-cache", false, "Do not use cache when building the image")
	fl.BoolVar(&f.pull, "pull", false, "Always attempt to pull a newer version of the image")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "Suppress the build output and print image ID on success")
	fl.StringVar(&f.target, "target", "", "Set the target build stage to build")
	fl.StringVar(&f.iidfile, "iidfile", "", "Write the image ID to the file")
	fl.StringVar(&f.platform, "platform", "", "Set platform if server is multi-platform capable")
	fl.StringVar(&f.network, "network", "default", "Set the networking mode for the RUN instructions during build")
	fl.StringVar(&f.progress, "progress", "auto", "Set type of progress output (auto, plain, tty)")
	return cmd
}

func runBuild(cmd *cobra.Command, e *env, f *buildFlags, path string) error {
	switch f.progress {
	case "auto", "plain", "tty":
	default:
		return statusError{status: 1, err: fmt.Errorf("invalid progress mode %q: auto, plain or tty", f.progress)}
	}
	opts := client.ImageBuildOptions{Tags: f.tags, NoCache: f.noCache, PullParent: f.pull, SuppressOutput: f.quiet, Target: f.target,
		NetworkMode: f.network, Remove: true, BuildArgs: map[string]*string{}, Labels: map[string]string{}}
	if f.platform != "" {
		os, arch, _ := strings.Cut(f.platform, "/")
		opts.Platforms = []ocispec.Platform{{OS: os, Architecture: arch}}
	}
	for _, a := range f.buildArgs {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			// As docker: a bare name takes its value from the environment, if set.
			if ev, set := os.LookupEnv(k); set {
				opts.BuildArgs[k] = &ev
			} else {
				opts.BuildArgs[k] = nil
			}
			continue
		}
		opts.BuildArgs[k] = &v
	}
	for _, l := range f.labels {
		k, v, _ := strings.Cut(l, "=")
		opts.Labels[k] = v
	}
	secrets, err := parseSecrets(f.secrets)
	if err != nil {
		return statusError{status: 1, err: err}
	}
	body, dockerfile, err := buildContext(e, path, f.file, secrets)
	if err != nil {
		return statusError{status: 1, err: err}
	}
	opts.Dockerfile = dockerfile
	opts.AuthConfigs = allCredentials()
	c, err := e.client()
	if err != nil {
		return err
	}
	if !f.quiet {
		fmt.Fprintf(e.out, "Sending build context to berthd  %s\n", units.HumanSizeWithPrecision(float64(len(body)), 4))
	}
	q := cmd.Context()
	resp, err := c.ImageBuild(q, bytes.NewReader(body), opts)
	if err != nil {
		return statusError{status: 1, err: errors.New(explain(err, e.host))}
	}
	defer resp.Body.Close()
	var id string
	aux := func(m jsonstream.Message) {
		var r buildtypes.Result
		if m.Aux != nil && json.Unmarshal(*m.Aux, &r) == nil && r.ID != "" {
			id = r.ID
		}
	}
	out := e.out
	if f.quiet {
		out = io.Discard
	}
	fd, isTerm := e.terminalFd()
	if f.progress == "plain" {
		isTerm = false
	}
	if err := jsonmessage.DisplayJSONMessagesStream(resp.Body, out, uintptr(fd), isTerm, aux); err != nil {
		status := 1
		var je *jsonstream.Error
		if errors.As(err, &je) && je.Code != 0 {
			status = je.Code
		}
		return statusError{status: status, err: err}
	}
	if f.quiet && id != "" {
		fmt.Fprintln(e.out, id)
	}
	if f.iidfile != "" && id != "" {
		if err := os.WriteFile(f.iidfile, []byte(id), 0o644); err != nil {
			return statusError{status: 1, err: fmt.Errorf("failed to write image ID to file: %w", err)}
		}
	}
	return nil
}

func parseSecrets(specs []string) ([]buildctx.Secret, error) {
	var out []buildctx.Secret
	for _, spec := range specs {
		var s buildctx.Secret
		for _, field := range strings.Split(spec, ",") {
			k, v, _ := strings.Cut(field, "=")
			switch k {
			case "id":
				s.ID = v
			case "src", "source":
				s.Path = v
			case "type":
				if v != "file" {
					return nil, fmt.Errorf("secret type %q is not supported: only files", v)
				}
			default:
				return nil, fmt.Errorf("unexpected key %q in secret %q", k, spec)
			}
		}
		if s.ID == "" && s.Path != "" {
			s.ID = filepath.Base(s.Path)
		}
		if s.ID == "" || s.Path == "" || strings.ContainsAny(s.ID, "/\\") || s.ID == "." || s.ID == ".." {
			return nil, fmt.Errorf("invalid secret %q: id=NAME,src=FILE", spec)
		}
		out = append(out, s)
	}
	return out, nil
}

// buildContext makes the context tar: a directory (with .dockerignore), or stdin, which holds
// either a tar or a Dockerfile. It returns the tar and the Dockerfile's name in it.
func buildContext(e *env, path, file string, secrets []buildctx.Secret) ([]byte, string, error) {
	var buf bytes.Buffer
	if path == "-" {
		if file == "-" {
			return nil, "", errors.New("invalid argument: can't use stdin for both build context and dockerfile")
		}
		data, err := io.ReadAll(e.in)
		if err != nil {
			return nil, "", err
		}
		if len(data) > 262 && bytes.Equal(data[257:262], []byte("ustar")) || bytes.HasPrefix(data, []byte{0x1f, 0x8b}) {
			if len(secrets) > 0 {
				return nil, "", errors.New("--secret needs a context directory")
			}
			return data, file, nil
		}
		// A Dockerfile alone: an empty context around it.
		dir, err := os.MkdirTemp("", "berth-build-")
		if err != nil {
			return nil, "", err
		}
		defer os.RemoveAll(dir)
		if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), data, 0o644); err != nil {
			return nil, "", err
		}
		err = buildctx.Write(&buf, dir, nil, "Dockerfile", secrets)
		return buf.Bytes(), "Dockerfile", err
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, "", fmt.Errorf("unable to prepare context: path %q not found", path)
	}
	if !st.IsDir() {
		return nil, "", fmt.Errorf("unable to prepare context: context must be a directory: %s", path)
	}
	patterns, err := buildctx.ReadIgnore(path)
	if err != nil {
		return nil, "", err
	}
	dockerfile := "Dockerfile"
	var extra []byte
	switch {
	case file == "-":
		if extra, err = io.ReadAll(bufio.NewReader(e.in)); err != nil {
			return nil, "", err
		}
		dockerfile = ".berth-dockerfile-stdin"
	case file != "":
		abs, err := filepath.Abs(file)
		if err != nil {
			return nil, "", err
		}
		absCtx, _ := filepath.Abs(path)
		rel, err := filepath.Rel(absCtx, abs)
		if err != nil || strings.HasPrefix(rel, "..") {
			// A Dockerfile outside the context is sent inside it, under a name of its own.
			if extra, err = os.ReadFile(file); err != nil {
				return nil, "", fmt.Errorf("unable to prepare context: %w", err)
			}
			dockerfile = ".berth-dockerfile-" + filepath.Base(file)
		} else {
			dockerfile = filepath.ToSlash(rel)
		}
	}
	if extra != nil {
		dir, err := os.MkdirTemp("", "berth-build-")
		if err != nil {
			return nil, "", err
		}
		defer os.RemoveAll(dir)
		if err := os.WriteFile(filepath.Join(dir, dockerfile), extra, 0o644); err != nil {
			return nil, "", err
		}
		if err := buildctx.WriteWithExtra(&buf, path, patterns, dockerfile, secrets, filepath.Join(dir, dockerfile)); err != nil {
			return nil, "", err
		}
		return buf.Bytes(), dockerfile, nil
	}
	if _, err := os.Stat(filepath.Join(path, dockerfile)); err != nil {
		return nil, "", fmt.Errorf("unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat %s: no such file or directory", filepath.Join(path, dockerfile))
	}
	err = buildctx.Write(&buf, path, patterns, dockerfile, secrets)
	return buf.Bytes(), dockerfile, err
}

// builderCmd is `berth builder prune`.
func builderCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "builder", Short: "Manage builds"}
	var all, force bool
	prune := &cobra.Command{
		Use:   "prune",
		Short: "Remove build cache",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !force {
				msg := "WARNING! This will remove all dangling build cache."
				if all {
					msg = "WARNING! This will remove all build cache."
				}
				fmt.Fprintf(e.out, "%s\nAre you sure you want to continue? [y/N] ", msg)
				line, _ := bufio.NewReader(e.in).ReadString('\n')
				if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
					return nil
				}
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			res, err := c.BuildCachePrune(cmd.Context(), client.BuildCachePruneOptions{All: all})
			if err != nil {
				return statusError{status: 1, err: errors.New(explain(err, e.host))}
			}
			fmt.Fprintf(e.out, "Total reclaimed space: %s\n", units.HumanSize(float64(res.Report.SpaceReclaimed)))
			return nil
		},
	}
	prune.Flags().BoolVarP(&all, "all", "a", false, "Remove all unused build cache, not just dangling ones")
	prune.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	prune.Flags().StringArray("filter", nil, "Provide filter values")
	cmd.AddCommand(prune)
	return cmd
}
