package cli

import (
	"fmt"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func systemCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "system", Short: "Manage berth"}
	info, events := infoCmd(e), eventsCmd(e)
	cmd.AddCommand(systemDfCmd(e), systemPruneCmd(e), info, events)
	return cmd
}

// dfRow is one line of `system df`: a type of object and what it takes.
type dfRow struct {
	typ                 string
	total, active, size int64
	reclaimable         int64
	percent             bool // the reclaimable share is shown (not for the build cache)
	listRow
}

func (r dfRow) Type() string       { return r.pick("TYPE", r.typ) }
func (r dfRow) TotalCount() string { return r.pick("TOTAL", strconv.FormatInt(r.total, 10)) }
func (r dfRow) Active() string     { return r.pick("ACTIVE", strconv.FormatInt(r.active, 10)) }
func (r dfRow) Size() string       { return r.pick("SIZE", units.HumanSize(float64(r.size))) }
func (r dfRow) Reclaimable() string {
	s := units.HumanSize(float64(r.reclaimable))
	if r.percent && r.size > 0 {
		s = fmt.Sprintf("%s (%d%%)", s, r.reclaimable*100/r.size)
	}
	return r.pick("RECLAIMABLE", s)
}

// cacheRow is a build cache record in `system df -v`.
type cacheRow struct {
	r     build.CacheRecord
	trunc bool
	listRow
}

func (r cacheRow) ID() string {
	id := shortID(r.r.ID, r.trunc)
	if r.r.InUse {
		id += "*"
	}
	return r.pick("CACHE ID", id)
}
func (r cacheRow) CacheType() string   { return r.pick("CACHE TYPE", r.r.Type) }
func (r cacheRow) Description() string { return r.pick("DESCRIPTION", r.r.Description) }
func (r cacheRow) Size() string {
	return r.pick("SIZE", units.HumanSizeWithPrecision(float64(r.r.Size), 3))
}
func (r cacheRow) CreatedSince() string {
	return r.pick("CREATED", units.HumanDuration(time.Since(r.r.CreatedAt))+" ago")
}
func (r cacheRow) LastUsedSince() string {
	if r.r.LastUsedAt == nil {
		return r.pick("LAST USED", "")
	}
	return r.pick("LAST USED", units.HumanDuration(time.Since(*r.r.LastUsedAt))+" ago")
}
func (r cacheRow) UsageCount() string { return r.pick("USAGE", strconv.Itoa(r.r.UsageCount)) }
func (r cacheRow) InUse() string      { return r.pick("IN USE", strconv.FormatBool(r.r.InUse)) }
func (r cacheRow) Shared() string     { return r.pick("SHARED", strconv.FormatBool(r.r.Shared)) }

// dfDetail is what a `system df -v --format` template sees.
type dfDetail struct {
	Images     []imageRow
	Containers []psRow
	Volumes    []volumeRow
	BuildCache []cacheRow
}

func systemDfCmd(e *env) *cobra.Command {
	var verbose bool
	var format string
	cmd := &cobra.Command{
		Use: "df [OPTIONS]", Short: "Show berth disk usage", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			du, err := c.DiskUsage(cmd.Context(), client.DiskUsageOptions{Containers: true, Images: true, Volumes: true, BuildCache: true, Verbose: verbose})
			if err != nil {
				return err
			}
			if verbose {
				return printDfVerbose(e, du, format)
			}
			rows := []dfRow{
				{typ: "Images", total: du.Images.TotalCount, active: du.Images.ActiveCount, size: du.Images.TotalSize, reclaimable: du.Images.Reclaimable, percent: true},
				{typ: "Containers", total: du.Containers.TotalCount, active: du.Containers.ActiveCount, size: du.Containers.TotalSize, reclaimable: du.Containers.Reclaimable, percent: true},
				{typ: "Local Volumes", total: du.Volumes.TotalCount, active: du.Volumes.ActiveCount, size: du.Volumes.TotalSize, reclaimable: du.Volumes.Reclaimable, percent: true},
				{typ: "Build Cache", total: du.BuildCache.TotalCount, active: du.BuildCache.ActiveCount, size: du.BuildCache.TotalSize, reclaimable: du.BuildCache.Reclaimable},
			}
			return printRows(e.out, format, "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}", dfRow{listRow: listRow{header: true}}, rows)
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "Show detailed information on space usage")
	cmd.Flags().StringVar(&format, "format", "", "Format output using a custom template ('table', 'table TEMPLATE', 'json', 'TEMPLATE')")
	return cmd
}

// printDfVerbose is `system df -v`: a table per type, or the format applied to all the items.
func printDfVerbose(e *env, du client.DiskUsageResult, format string) error {
	table := format == "" || format == "table"
	var d dfDetail
	for _, img := range du.Images.Items {
		repo, tag := "<none>", "<none>"
		if len(img.RepoTags) > 0 && img.RepoTags[0] != "<none>:<none>" {
			if ref, err := reference.ParseNormalizedNamed(img.RepoTags[0]); err == nil {
				if nt, ok := ref.(reference.NamedTagged); ok {
					repo, tag = reference.FamiliarName(ref), nt.Tag()
				}
			}
		}
		d.Images = append(d.Images, imageRow{s: img, repo: repo, tag: tag, trunc: table})
	}
	for i := range du.Containers.Items {
		c := &du.Containers.Items[i]
		c.SizeRootFs = 0 // df shows a container's own writes only
		d.Containers = append(d.Containers, psRow{s: c, trunc: table})
	}
	for _, v := range du.Volumes.Items {
		d.Volumes = append(d.Volumes, volumeRow{v: v})
	}
	for _, r := range du.BuildCache.Items {
		d.BuildCache = append(d.BuildCache, cacheRow{r: r, trunc: table})
	}
	if !table {
		if format == "json" {
			format = "{{json .}}"
		}
		format = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(format)
		tmpl, err := template.New("").Funcs(templateFuncs).Parse(format)
		if err != nil {
			return statusError{status: 1, err: fmt.Errorf("template parsing error: %w", err)}
		}
		if err := tmpl.Execute(e.out, d); err != nil {
			return statusError{status: 1, err: fmt.Errorf("template: %w", err)}
		}
		fmt.Fprintln(e.out)
		return nil
	}
	fmt.Fprint(e.out, "Images space usage:\n\n")
	if err := printRows(e.out, "", "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}",
		imageRow{listRow: listRow{header: true}}, d.Images); err != nil {
		return err
	}
	fmt.Fprint(e.out, "\nContainers space usage:\n\n")
	if err := printRows(e.out, "", "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}",
		psHeader, d.Containers); err != nil {
		return err
	}
	fmt.Fprint(e.out, "\nLocal Volumes space usage:\n\n")
	if err := printRows(e.out, "", "table {{.Name}}\t{{.Links}}\t{{.Size}}", volumeRow{listRow: listRow{header: true}}, d.Volumes); err != nil {
		return err
	}
	fmt.Fprintf(e.out, "\nBuild cache usage: %s\n\n", units.HumanSize(float64(du.BuildCache.TotalSize)))
	return printRows(e.out, "", "table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}",
		cacheRow{listRow: listRow{header: true}}, d.BuildCache)
}
