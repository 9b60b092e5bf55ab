package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/docker/go-units"
	imagetypes "github.com/moby/moby/api/types/image"
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
	var quiet, all, noTrunc, digests bool
	var format string
	var filterArgs []string
	cmd := &cobra.Command{
		Use:   "images [OPTIONS] [REPOSITORY[:TAG]]",
		Short: "List images",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			f, err := parseFilterFlags(filterArgs)
			if err != nil {
				return err
			}
			if len(args) == 1 {
				f.Add("reference", args[0])
			}
			res, err := c.ImageList(cmd.Context(), client.ImageListOptions{All: all, Filters: f})
			if err != nil {
				return err
			}
			def := "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
			if digests {
				def = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
			}
			if quiet {
				format = "{{.ID}}"
			}
			// One row per tag, as docker lists them (-q too).
			var rows []imageRow
			for _, img := range res.Items {
				tags := img.RepoTags
				if len(tags) == 0 {
					tags = []string{"<none>:<none>"}
				}
				for _, t := range tags {
					i := strings.LastIndex(t, ":")
					rows = append(rows, imageRow{s: img, repo: t[:i], tag: t[i+1:], trunc: !noTrunc})
				}
			}
			return printRows(e.out, format, def, imageRow{listRow: listRow{header: true}}, rows)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&quiet, "quiet", "q", false, "Only show image IDs")
	f.BoolVarP(&all, "all", "a", false, "Show all images (default hides intermediate images)")
	f.BoolVar(&noTrunc, "no-trunc", false, "Don't truncate output")
	f.BoolVar(&digests, "digests", false, "Show digests")
	f.StringVar(&format, "format", "", "Format output using a custom template")
	f.StringArrayVarP(&filterArgs, "filter", "f", nil, "Filter output based on conditions provided")
	return cmd
}

// imageRow is one image tag as images --format templates see it (docker's field names).
type imageRow struct {
	s         imagetypes.Summary
	repo, tag string
	trunc     bool
	listRow
}

func (r imageRow) ID() string {
	id := r.s.ID
	if r.trunc {
		id = strings.TrimPrefix(id, "sha256:")
		id = id[:min(12, len(id))]
	}
	return r.pick("IMAGE ID", id)
}
func (r imageRow) Repository() string { return r.pick("REPOSITORY", r.repo) }
func (r imageRow) Tag() string        { return r.pick("TAG", r.tag) }
func (r imageRow) Digest() string {
	d := "<none>"
	for _, rd := range r.s.RepoDigests {
		if name, dg, ok := strings.Cut(rd, "@"); ok && name == r.repo {
			d = dg
		}
	}
	return r.pick("DIGEST", d)
}
func (r imageRow) CreatedSince() string {
	return r.pick("CREATED", units.HumanDuration(time.Since(time.Unix(r.s.Created, 0)))+" ago")
}
func (r imageRow) CreatedAt() string {
	return r.pick("CREATED AT", time.Unix(r.s.Created, 0).String())
}
func (r imageRow) Size() string {
	return r.pick("SIZE", units.HumanSizeWithPrecision(float64(r.s.Size), 3))
}
func (r imageRow) Containers() string {
	if r.s.Containers < 0 {
		return r.pick("CONTAINERS", "N/A")
	}
	return r.pick("CONTAINERS", strconv.FormatInt(r.s.Containers, 10))
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
	cmd.AddCommand(pullCmd(e), pushCmd(e), saveCmd(e), loadCmd(e), historyCmd(e), pruneImagesCmd(e))
	return cmd
}

func (r imageRow) SharedSize() string {
	if r.s.SharedSize < 0 {
		return r.pick("SHARED SIZE", "N/A")
	}
	return r.pick("SHARED SIZE", units.HumanSize(float64(r.s.SharedSize)))
}
func (r imageRow) UniqueSize() string {
	if r.s.SharedSize < 0 {
		return r.pick("UNIQUE SIZE", "N/A")
	}
	return r.pick("UNIQUE SIZE", units.HumanSize(float64(r.s.Size-r.s.SharedSize)))
}
func (r imageRow) VirtualSize() string {
	return r.pick("VIRTUAL SIZE", units.HumanSize(float64(r.s.Size)))
}
