package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/docker/go-units"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func importCmd(e *env) *cobra.Command {
	var changes []string
	var message string
	cmd := &cobra.Command{
		Use:   "import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
		Short: "Import the contents from a tarball to create a filesystem image",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			src := client.ImageImportSource{SourceName: args[0]}
			switch {
			case args[0] == "-":
				src.Source = e.in
			case strings.HasPrefix(args[0], "http://") || strings.HasPrefix(args[0], "https://"):
			default:
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				src = client.ImageImportSource{SourceName: "-", Source: f}
			}
			ref := ""
			if len(args) == 2 {
				ref = args[1]
			}
			resp, err := c.ImageImport(cmd.Context(), src, ref, client.ImageImportOptions{Message: message, Changes: changes})
			if err != nil {
				return err
			}
			defer resp.Close()
			return printJSONMessages(resp, e.out)
		},
	}
	cmd.Flags().StringArrayVarP(&changes, "change", "c", nil, "Apply Dockerfile instruction to the created image")
	cmd.Flags().StringVarP(&message, "message", "m", "", "Set commit message for imported image")
	return cmd
}

// printJSONMessages shows a progress stream of the API: each status on a line, an error as the
// command's failure.
func printJSONMessages(r io.Reader, out io.Writer) error {
	dec := json.NewDecoder(r)
	for {
		var m struct {
			Status string `json:"status"`
			ID     string `json:"id"`
			Error  string `json:"error"`
		}
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		if m.Error != "" {
			return errors.New(m.Error)
		}
		if m.ID != "" {
			fmt.Fprintf(out, "%s: %s\n", m.ID, m.Status)
		} else if m.Status != "" {
			fmt.Fprintln(out, m.Status)
		}
	}
}

func imagesCmd(e *env) *cobra.Command {
	var quiet, all, noTrunc bool
	cmd := &cobra.Command{
		Use:     "images [OPTIONS] [REPOSITORY[:TAG]]",
		Aliases: []string{"image ls", "image list"},
		Short:   "List images",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			res, err := c.ImageList(cmd.Context(), client.ImageListOptions{All: all})
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(e.out, 10, 1, 3, ' ', 0)
			if !quiet {
				fmt.Fprintln(w, "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE")
			}
			for _, img := range res.Items {
				id := img.ID
				if !noTrunc {
					id = strings.TrimPrefix(id, "sha256:")[:12]
				}
				tags := img.RepoTags
				if len(tags) == 0 {
					tags = []string{"<none>:<none>"}
				}
				// One row per tag, as docker lists them (-q too).
				for _, t := range tags {
					i := strings.LastIndex(t, ":")
					repo, tag := t[:i], t[i+1:]
					if len(args) == 1 && args[0] != repo && args[0] != t {
						continue
					}
					if quiet {
						fmt.Fprintln(w, id)
						continue
					}
					created := units.HumanDuration(time.Since(time.Unix(img.Created, 0))) + " ago"
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", repo, tag, id, created, units.HumanSizeWithPrecision(float64(img.Size), 3))
				}
			}
			return w.Flush()
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only show image IDs")
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Show all images")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "Don't truncate output")
	return cmd
}

func tagCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
		Short: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			_, err = c.ImageTag(cmd.Context(), client.ImageTagOptions{Source: args[0], Target: args[1]})
			return err
		},
	}
}

func rmiCmd(e *env) *cobra.Command {
	var force, noPrune bool
	cmd := &cobra.Command{
		Use:   "rmi [OPTIONS] IMAGE [IMAGE...]",
		Short: "Remove one or more images",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return forEachArg(e, args, func(c *client.Client, name string) error {
				res, err := c.ImageRemove(cmd.Context(), name, client.ImageRemoveOptions{Force: force, PruneChildren: !noPrune})
				if err != nil {
					return err
				}
				for _, d := range res.Items {
					if d.Untagged != "" {
						fmt.Fprintf(e.out, "Untagged: %s\n", d.Untagged)
					}
					if d.Deleted != "" {
						fmt.Fprintf(e.out, "Deleted: %s\n", d.Deleted)
					}
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force removal of the image")
	cmd.Flags().BoolVar(&noPrune, "no-prune", false, "Do not delete untagged parents")
	return cmd
}

func imageCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "image", Short: "Manage images"}
	inspect := &cobra.Command{
		Use:   "inspect [OPTIONS] IMAGE [IMAGE...]",
		Short: "Display detailed information on one or more images",
		Args:  cobra.MinimumNArgs(1),
	}
	var format string
	inspect.Flags().StringVarP(&format, "format", "f", "", "Format output using a Go template")
	inspect.RunE = func(cmd *cobra.Command, args []string) error {
		var items []any
		failed := forEachArg(e, args, func(c *client.Client, name string) error {
			res, err := c.ImageInspect(cmd.Context(), name)
			if err != nil {
				return err
			}
			items = append(items, res.InspectResponse)
			return nil
		})
		return inspectResult(e, items, format, failed)
	}
	ls := imagesCmd(e)
	ls.Use, ls.Aliases = "ls [OPTIONS] [REPOSITORY[:TAG]]", []string{"list"}
	rm := rmiCmd(e)
	rm.Use = "rm [OPTIONS] IMAGE [IMAGE...]"
	imp := importCmd(e)
	tag := tagCmd(e)
	cmd.AddCommand(inspect, ls, rm, imp, tag)
	return cmd
}
