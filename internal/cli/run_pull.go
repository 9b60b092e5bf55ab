package cli

import (
	"errors"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// addPullFlag is run's and create's --pull.
func addPullFlag(cmd *cobra.Command) {
	cmd.Flags().String("pull", "missing", `Pull image before running ("always", "missing", "never")`)
}

// createPulling creates a container, pulling its image first per --pull, as docker's CLI does:
// on "No such image" with "missing", it says "Unable to find image ... locally", pulls with the
// progress on stderr, and tries again.
func createPulling(cmd *cobra.Command, e *env, c *client.Client, opts client.ContainerCreateOptions) (client.ContainerCreateResult, error) {
	policy, _ := cmd.Flags().GetString("pull")
	var none client.ContainerCreateResult
	switch policy {
	case "", "missing", "always", "never":
	default:
		return none, fmt.Errorf(`invalid pull option: '%s': must be one of "always", "missing" or "never"`, policy)
	}
	ref, refErr := reference.ParseNormalizedNamed(opts.Config.Image)
	isRef := refErr == nil
	if isRef {
		ref = reference.TagNameOnly(ref)
	}
	platform := ""
	if opts.Platform != nil {
		platform = opts.Platform.OS + "/" + opts.Platform.Architecture
	}
	pull := func() error {
		return pullImage(cmd.Context(), e, reference.FamiliarString(ref), pullOpts{platform: platform, out: e.errOut})
	}
	if policy == "always" && isRef {
		if err := pull(); err != nil {
			return none, err
		}
	}
	created, err := c.ContainerCreate(cmd.Context(), opts)
	if err == nil || !cerrdefs.IsNotFound(err) || !isRef || policy == "never" || policy == "always" {
		return created, err
	}
	fmt.Fprintf(e.errOut, "Unable to find image '%s' locally\n", reference.FamiliarString(ref))
	if err := pull(); err != nil {
		var se statusError
		if errors.As(err, &se) {
			return none, se.err
		}
		return none, err
	}
	return c.ContainerCreate(cmd.Context(), opts)
}
