package cli

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/docker/go-units"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// containerCmd is docker's `container` group: the same commands under their management names.
func containerCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "container", Short: "Manage containers"}
	ls := psCmd(e)
	ls.Use, ls.Aliases = "ls [OPTIONS]", []string{"ps", "list"}
	cmd.AddCommand(ls, runCmd(e), createCmd(e), startCmd(e), stopCmd(e), killCmd(e), rmCmd(e), waitCmd(e),
		logsCmd(e), attachCmd(e), execCmd(e), pruneContainersCmd(e))
	cmd.AddCommand(opsCmds(e)...)
	cmd.AddCommand(cpCmd(e), diffCmd(e), exportCmd(e), commitCmd(e)) // issue 4
	inspect := inspectCmd(e)
	inspect.Use = "inspect [OPTIONS] CONTAINER [CONTAINER...]"
	cmd.AddCommand(inspect)
	return cmd
}

func pruneContainersCmd(e *env) *cobra.Command {
	var force bool
	var filterArgs []string
	cmd := &cobra.Command{
		Use: "prune [OPTIONS]", Short: "Remove all stopped containers", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := parseFilterFlags(filterArgs)
			if err != nil {
				return err
			}
			if !force && !confirm(e, "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?") {
				return nil // declined: nothing done, as docker (exit 0)
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			res, err := c.ContainerPrune(cmd.Context(), client.ContainerPruneOptions{Filters: f})
			if err != nil {
				return err
			}
			printPruned(e.out, "Deleted Containers:", res.Report.ContainersDeleted, res.Report.SpaceReclaimed)
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().StringArrayVar(&filterArgs, "filter", nil, "Provide filter values (e.g. \"until=<timestamp>\")")
	return cmd
}

// confirm asks a yes/no question on the terminal; anything but y or yes is no.
func confirm(e *env, question string) bool {
	fmt.Fprint(e.out, question+" [y/N] ")
	if e.in == nil {
		return false
	}
	line, _ := bufio.NewReader(e.in).ReadString('\n')
	answer := strings.ToLower(strings.TrimSpace(line))
	return answer == "y" || answer == "yes"
}

// printPruned is docker's prune report: what went, then the space reclaimed.
func printPruned(out io.Writer, title string, deleted []string, reclaimed uint64) {
	if len(deleted) > 0 {
		fmt.Fprintln(out, title)
		for _, d := range deleted {
			fmt.Fprintln(out, d)
		}
		fmt.Fprintln(out)
	}
	fmt.Fprintln(out, "Total reclaimed space:", units.HumanSize(float64(reclaimed)))
}
