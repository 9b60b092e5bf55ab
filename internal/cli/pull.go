package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/jsonmessage"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func pullCmd(e *env) *cobra.Command {
	var all, quiet bool
	var platform string
	cmd := &cobra.Command{
		Use:   "pull [OPTIONS] NAME[:TAG|@DIGEST]",
		Short: "Download an image from a registry",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return pullImage(cmd.Context(), e, args[0], pullOpts{all: all, quiet: quiet, platform: platform, out: e.out})
		},
	}
	cmd.Flags().BoolVarP(&all, "all-tags", "a", false, "Download all tagged images in the repository")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Suppress verbose output")
	cmd.Flags().StringVar(&platform, "platform", os.Getenv("DOCKER_DEFAULT_PLATFORM"), "Set platform if server is multi-platform capable")
	cmd.Flags().Bool("disable-content-trust", true, "Skip image verification")
	cmd.SetFlagErrorFunc(flagError)
	return cmd
}

type pullOpts struct {
	all, quiet bool
	platform   string
	out        io.Writer // progress; the final reference goes to e.out
}

// pullImage is docker pull: the daemon's progress stream rendered as docker renders it, then
// the full reference.
func pullImage(ctx context.Context, e *env, name string, o pullOpts) error {
	ref, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return statusError{status: 1, err: fmt.Errorf("invalid reference format: %s", strings.TrimPrefix(err.Error(), "invalid reference format: "))}
	}
	if o.all {
		if !reference.IsNameOnly(ref) {
			return statusError{status: 1, err: errors.New("tag can't be used with --all-tags/-a")}
		}
	} else {
		ref = reference.TagNameOnly(ref)
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	opts := client.ImagePullOptions{All: o.all, RegistryAuth: encodedAuth(reference.Domain(ref))}
	if o.platform != "" {
		p, err := parsePlatform(o.platform)
		if err != nil {
			return statusError{status: 1, err: err}
		}
		opts.Platforms = []ocispec.Platform{p}
	}
	resp, err := c.ImagePull(ctx, reference.FamiliarString(ref), opts)
	if err != nil {
		return statusError{status: 1, err: errors.New(explain(err, e.host))}
	}
	defer resp.Close()
	out := o.out
	if o.quiet {
		out = io.Discard
	}
	fd, isTerm := uintptr(0), false
	if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fd, isTerm = f.Fd(), true
	}
	if err := jsonmessage.DisplayJSONMessagesStream(resp, out, fd, isTerm, nil); err != nil {
		return statusError{status: 1, err: err}
	}
	if o.out == e.out {
		fmt.Fprintln(e.out, ref.String())
	}
	return nil
}

func parsePlatform(s string) (ocispec.Platform, error) {
	parts := strings.Split(strings.ToLower(s), "/")
	var p ocispec.Platform
	switch len(parts) {
	case 1:
		p.OS, p.Architecture = "linux", parts[0]
	case 2:
		p.OS, p.Architecture = parts[0], parts[1]
	case 3:
		p.OS, p.Architecture, p.Variant = parts[0], parts[1], parts[2]
	default:
		return p, fmt.Errorf("%q: unknown operating system or architecture: invalid argument", s)
	}
	if p.OS == "" || p.Architecture == "" {
		return p, fmt.Errorf("%q: unknown operating system or architecture: invalid argument", s)
	}
	return p, nil
}
