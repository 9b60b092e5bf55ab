package cli

import (
	"errors"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func pruneImagesCmd(e *env) *cobra.Command {
	var force, all bool
	var filterArgs []string
	cmd := &cobra.Command{
		Use: "prune [OPTIONS]", Short: "Remove unused images", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := parseFilterFlags(filterArgs)
			if err != nil {
				return err
			}
			warning := "WARNING! This will remove all dangling images."
			if all {
				f = f.Add("dangling", "false")
				warning = "WARNING! This will remove all images without at least one container associated to them."
			}
			if !force && !confirm(e, warning+"\nAre you sure you want to continue?") {
				return nil
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			res, err := c.ImagePrune(cmd.Context(), client.ImagePruneOptions{Filters: f})
			if err != nil {
				return statusError{status: 1, err: errors.New(explain(err, e.host))}
			}
			var lines []string
			for _, d := range res.Report.ImagesDeleted {
				if d.Untagged != "" {
					lines = append(lines, "untagged: "+d.Untagged)
				} else if d.Deleted != "" {
					lines = append(lines, "deleted: "+d.Deleted)
				}
			}
			printPruned(e.out, "Deleted Images:", lines, res.Report.SpaceReclaimed)
			return nil
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Remove all unused images, not just dangling ones")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().StringArrayVar(&filterArgs, "filter", nil, "Provide filter values (e.g. \"until=<timestamp>\")")
	return cmd
}
