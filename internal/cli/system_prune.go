package cli

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/docker/go-units"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func systemPruneCmd(e *env) *cobra.Command {
	var force, all, volumes bool
	var filterArgs []string
	cmd := &cobra.Command{
		Use: "prune [OPTIONS]", Short: "Remove unused data", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := parseFilterFlags(filterArgs)
			if err != nil {
				return err
			}
			if volumes && len(f["until"]) > 0 {
				return statusError{status: 1, err: errors.New(`ERROR: The "until" filter is not supported with "--volumes"`)}
			}
			if !force && !confirm(e, pruneWarning(all, volumes, filterArgs)) {
				return nil
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			var reclaimed uint64
			report := func(title string, lines []string) {
				if len(lines) == 0 {
					return
				}
				fmt.Fprintln(e.out, title)
				for _, l := range lines {
					fmt.Fprintln(e.out, l)
				}
				fmt.Fprintln(e.out)
			}
			fail := func(err error) error { return statusError{status: 1, err: errors.New(explain(err, e.host))} }

			cres, err := c.ContainerPrune(ctx, client.ContainerPruneOptions{Filters: f.Clone()})
			if err != nil {
				return fail(err)
			}
			report("Deleted Containers:", cres.Report.ContainersDeleted)
			reclaimed += cres.Report.SpaceReclaimed

			nres, err := c.NetworkPrune(ctx, client.NetworkPruneOptions{Filters: f.Clone()})
			if err != nil {
				return fail(err)
			}
			report("Deleted Networks:", nres.Report.NetworksDeleted)

			if volumes {
				vres, err := c.VolumePrune(ctx, client.VolumePruneOptions{Filters: f.Clone()})
				if err != nil {
					return fail(err)
				}
				report("Deleted Volumes:", vres.Report.VolumesDeleted)
				reclaimed += vres.Report.SpaceReclaimed
			}

			imgFilters := f.Clone()
			if all {
				imgFilters.Add("dangling", "false")
			}
			ires, err := c.ImagePrune(ctx, client.ImagePruneOptions{Filters: imgFilters})
			if err != nil {
				return fail(err)
			}
			var lines []string
			for _, d := range ires.Report.ImagesDeleted {
				if d.Untagged != "" {
					lines = append(lines, "untagged: "+d.Untagged)
				} else if d.Deleted != "" {
					lines = append(lines, "deleted: "+d.Deleted)
				}
			}
			report("Deleted Images:", lines)
			reclaimed += ires.Report.SpaceReclaimed

			bres, err := c.BuildCachePrune(ctx, client.BuildCachePruneOptions{All: all, Filters: f.Clone()})
			if err != nil {
				return fail(err)
			}
			report("Deleted build cache objects:", bres.Report.CachesDeleted)
			reclaimed += bres.Report.SpaceReclaimed

			fmt.Fprintln(e.out, "Total reclaimed space:", units.HumanSize(float64(reclaimed)))
			return nil
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Remove all unused images not just dangling ones")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().BoolVar(&volumes, "volumes", false, "Prune anonymous volumes")
	cmd.Flags().StringArrayVar(&filterArgs, "filter", nil, "Provide filter values (e.g. \"label=<key>=<value>\")")
	return cmd
}

// pruneWarning is the question docker's system prune asks, listing what will go.
func pruneWarning(all, volumes bool, filterArgs []string) string {
	var b strings.Builder
	b.WriteString("WARNING! This will remove:\n")
	b.WriteString("  - all stopped containers\n")
	b.WriteString("  - all networks not used by at least one container\n")
	if volumes {
		b.WriteString("  - all anonymous volumes not used by at least one container\n")
	}
	if all {
		b.WriteString("  - all images without at least one container associated to them\n")
		b.WriteString("  - all build cache\n")
	} else {
		b.WriteString("  - all dangling images\n")
		b.WriteString("  - unused build cache\n")
	}
	if len(filterArgs) > 0 {
		sorted := append([]string(nil), filterArgs...)
		sort.Strings(sorted)
		b.WriteString("\n  Items to be pruned will be filtered with:\n")
		for _, f := range sorted {
			b.WriteString("  - " + f + "\n")
		}
	}
	b.WriteString("\nAre you sure you want to continue?")
	return b.String()
}
