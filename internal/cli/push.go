package cli

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/distribution/reference"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/jsonmessage"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func pushCmd(e *env) *cobra.Command {
	var all, quiet bool
	cmd := &cobra.Command{
		Use:   "push [OPTIONS] NAME[:TAG]",
		Short: "Upload an image to a registry",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := reference.ParseNormalizedNamed(args[0])
			if err != nil {
				return statusError{status: 1, err: fmt.Errorf("invalid reference format: %w", err)}
			}
			if all && !reference.IsNameOnly(ref) {
				return statusError{status: 1, err: errors.New("tag can't be used with --all-tags/-a")}
			}
			if !all {
				ref = reference.TagNameOnly(ref)
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			resp, err := c.ImagePush(cmd.Context(), reference.FamiliarString(ref), client.ImagePushOptions{All: all, RegistryAuth: encodedAuth(reference.Domain(ref))})
			if err != nil {
				return statusError{status: 1, err: errors.New(explain(err, e.host))}
			}
			defer resp.Close()
			var out io.Writer = e.out
			if quiet {
				out = io.Discard
			}
			fd, isTerm := uintptr(0), false
			if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				fd, isTerm = f.Fd(), true
			}
			if err := jsonmessage.DisplayJSONMessagesStream(resp, out, fd, isTerm, nil); err != nil {
				return statusError{status: 1, err: err}
			}
			if quiet {
				fmt.Fprintln(e.out, reference.FamiliarString(ref))
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&all, "all-tags", "a", false, "Push all tags of an image to the repository")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Suppress verbose output")
	cmd.Flags().Bool("disable-content-trust", true, "Skip image signing")
	cmd.SetFlagErrorFunc(flagError)
	return cmd
}
