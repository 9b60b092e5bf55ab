package cli

import (
	"fmt"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func commitCmd(e *env) *cobra.Command {
	var author, message string
	var changes []string
	var pause bool
	cmd := &cobra.Command{
		Use: "commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]", Short: "Create a new image from a container's changes",
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref := ""
			if len(args) == 2 {
				ref = args[1]
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			res, err := c.ContainerCommit(cmd.Context(), args[0], client.ContainerCommitOptions{Reference: ref,
				Comment: message, Author: author, Changes: changes, NoPause: !pause})
			if err != nil {
				return err
			}
			fmt.Fprintln(e.out, res.ID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&author, "author", "a", "", `Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")`)
	f.StringArrayVarP(&changes, "change", "c", nil, "Apply Dockerfile instruction to the created image")
	f.StringVarP(&message, "message", "m", "", "Commit message")
	f.BoolVarP(&pause, "pause", "p", true, "Pause container during commit")
	return cmd
}
