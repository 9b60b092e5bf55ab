package cli

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/docker/go-units"
	voltypes "github.com/moby/moby/api/types/volume"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// volumeCmd is `berth volume`: create, ls, inspect, rm, prune, as docker's.
func volumeCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "volume COMMAND", Short: "Manage volumes"}
	cmd.AddCommand(volumeCreateCmd(e), volumeLsCmd(e), volumeInspectCmd(e), volumeRmCmd(e), volumePruneCmd(e))
	return cmd
}

func keyValueMap(list []string) map[string]string {
	out := map[string]string{}
	for _, kv := range list {
		k, v, _ := strings.Cut(kv, "=")
		out[k] = v
	}
	return out
}

func volumeCreateCmd(e *env) *cobra.Command {
	var driver string
	var opts, labels []string
	cmd := &cobra.Command{
		Use: "create [OPTIONS] [VOLUME]", Short: "Create a volume", Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, _ := cmd.Flags().GetString("name")
			if len(args) == 1 {
				if name != "" {
					return statusError{status: 1, err: fmt.Errorf("conflicting options: cannot specify a volume-name through both --name and as a positional arg")}
				}
				name = args[0]
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			res, err := c.VolumeCreate(cmd.Context(), client.VolumeCreateOptions{Name: name, Driver: driver,
				DriverOpts: keyValueMap(opts), Labels: keyValueMap(labels)})
			if err != nil {
				return err
			}
			fmt.Fprintln(e.out, res.Volume.Name)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&driver, "driver", "d", "local", "Specify volume driver name")
	f.StringArrayVarP(&opts, "opt", "o", nil, "Set driver specific options")
	f.StringArrayVar(&labels, "label", nil, "Set metadata for a volume")
	f.String("name", "", "Specify volume name")
	f.MarkHidden("name")
	return cmd
}

// volumeRow is one volume as ls --format templates see it.
type volumeRow struct {
	v voltypes.Volume
	listRow
}

func (r volumeRow) Name() string       { return r.pick("VOLUME NAME", r.v.Name) }
func (r volumeRow) Driver() string     { return r.pick("DRIVER", r.v.Driver) }
func (r volumeRow) Scope() string      { return r.pick("SCOPE", r.v.Scope) }
func (r volumeRow) Mountpoint() string { return r.pick("MOUNTPOINT", r.v.Mountpoint) }
func (r volumeRow) CreatedAt() string  { return r.pick("CREATED AT", r.v.CreatedAt) }
func (r volumeRow) Labels() string {
	var kv []string
	for k, v := range r.v.Labels {
		kv = append(kv, k+"="+v)
	}
	return r.pick("LABELS", strings.Join(kv, ","))
}
func (r volumeRow) Size() string {
	if r.v.UsageData == nil || r.v.UsageData.Size < 0 {
		return r.pick("SIZE", "N/A")
	}
	return r.pick("SIZE", units.HumanSize(float64(r.v.UsageData.Size)))
}
func (r volumeRow) Links() string {
	if r.v.UsageData == nil || r.v.UsageData.RefCount < 0 {
		return r.pick("LINKS", "N/A")
	}
	return r.pick("LINKS", strconv.FormatInt(r.v.UsageData.RefCount, 10))
}

func volumeLsCmd(e *env) *cobra.Command {
	var quiet bool
	var format string
	var filterArgs []string
	cmd := &cobra.Command{
		Use: "ls [OPTIONS]", Aliases: []string{"list"}, Short: "List volumes", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := parseFilterFlags(filterArgs)
			if err != nil {
				return err
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			res, err := c.VolumeList(cmd.Context(), client.VolumeListOptions{Filters: f})
			if err != nil {
				return err
			}
			if quiet {
				format = "{{.Name}}"
			}
			rows := make([]volumeRow, 0, len(res.Items))
			for _, v := range res.Items {
				rows = append(rows, volumeRow{v: v})
			}
			return printRows(e.out, format, "table {{.Driver}}\t{{.Name}}", volumeRow{listRow: listRow{header: true}}, rows)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&quiet, "quiet", "q", false, "Only display volume names")
	f.StringVar(&format, "format", "", "Format output using a custom template")
	f.StringArrayVarP(&filterArgs, "filter", "f", nil, "Provide filter values (e.g. \"dangling=true\")")
	return cmd
}

func volumeInspectCmd(e *env) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use: "inspect [OPTIONS] VOLUME [VOLUME...]", Short: "Display detailed information on one or more volumes",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var items []any
			failed := forEachArg(e, args, func(c *client.Client, name string) error {
				res, err := c.VolumeInspect(cmd.Context(), name, client.VolumeInspectOptions{})
				if err != nil {
					return err
				}
				items = append(items, inspected{res.Volume, res.Raw})
				return nil
			})
			return inspectResult(e, items, format, failed)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template")
	return cmd
}

func volumeRmCmd(e *env) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use: "rm [OPTIONS] VOLUME [VOLUME...]", Aliases: []string{"remove"}, Short: "Remove one or more volumes",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return forEachArg(e, args, func(c *client.Client, name string) error {
				if _, err := c.VolumeRemove(cmd.Context(), name, client.VolumeRemoveOptions{Force: force}); err != nil {
					return err
				}
				fmt.Fprintln(e.out, name)
				return nil
			})
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the removal of one or more volumes")
	return cmd
}

func volumePruneCmd(e *env) *cobra.Command {
	var force, all bool
	var filterArgs []string
	cmd := &cobra.Command{
		Use: "prune [OPTIONS]", Short: "Remove unused local volumes", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := parseFilterFlags(filterArgs)
			if err != nil {
				return err
			}
			if _, ok := f["all"]; ok && all {
				return statusError{status: 1, err: errors.New("conflicting options: cannot specify both --all and --filter all=1")}
			}
			warning := "WARNING! This will remove anonymous local volumes not used by at least one container."
			if all {
				warning = "WARNING! This will remove all local volumes not used by at least one container."
			}
			if !force && !confirm(e, warning+"\nAre you sure you want to continue?") {
				return nil
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			res, err := c.VolumePrune(cmd.Context(), client.VolumePruneOptions{All: all, Filters: f})
			if err != nil {
				return err
			}
			printPruned(e.out, "Deleted Volumes:", res.Report.VolumesDeleted, res.Report.SpaceReclaimed)
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Remove all unused volumes, not just anonymous ones")
	cmd.Flags().StringArrayVar(&filterArgs, "filter", nil, "Provide filter values (e.g. \"label=<label>\")")
	return cmd
}
