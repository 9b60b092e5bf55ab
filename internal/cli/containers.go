package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/berthproject/berth/internal/signals"
	"github.com/docker/go-units"
	"github.com/moby/moby/api/pkg/stdcopy"
	ctypes "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
)

// startFailure maps a failed start to docker's exit codes: 127 for a missing command, 126 for
// one that cannot be executed, 125 otherwise.
func startFailure(err error, host, command string) error {
	msg := explain(err, host)
	status := signals.StartFailureCode(msg, 125)
	if command == "run" { // docker run words it as its other refusals
		msg = fmt.Sprintf("berth: %s\n\nRun 'berth run --help' for more information", msg)
	}
	return statusError{status: status, err: errors.New(msg)}
}

func psCmd(e *env) *cobra.Command {
	var all, quiet, noTrunc, latest, size bool
	var last int
	var format string
	var filterArgs []string
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS]",
		Short: "List containers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			f, err := parseFilterFlags(filterArgs)
			if err != nil {
				return err
			}
			if latest {
				last = 1
			}
			// Sizes cost a walk of every container's files: only when shown (a template that
			// prints the whole row as JSON shows them too), never with -q.
			size = size || !quiet && (strings.Contains(format, ".Size") || jsonOfRow(format))
			res, err := c.ContainerList(cmd.Context(), client.ContainerListOptions{All: all, Limit: last, Size: size, Filters: f})
			if err != nil {
				return err
			}
			def := "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
			if size {
				def += "\t{{.Size}}"
			}
			if quiet {
				if format != "" {
					fmt.Fprintln(e.errOut, "WARNING: Ignoring custom format, because both --format and --quiet are set.")
				}
				format = "{{.ID}}"
			}
			rows := make([]psRow, len(res.Items))
			for i := range res.Items {
				rows[i] = psRow{s: &res.Items[i], trunc: !noTrunc}
			}
			return printRows(e.out, format, def, psHeader, rows)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&all, "all", "a", false, "Show all containers (default shows just running)")
	f.BoolVarP(&quiet, "quiet", "q", false, "Only display container IDs")
	f.BoolVar(&noTrunc, "no-trunc", false, "Don't truncate output")
	f.IntVarP(&last, "last", "n", -1, "Show n last created containers (includes all states)")
	f.BoolVarP(&latest, "latest", "l", false, "Show the latest created container (includes all states)")
	f.BoolVarP(&size, "size", "s", false, "Display total file sizes")
	f.StringVar(&format, "format", "", "Format output using a custom template")
	f.StringArrayVarP(&filterArgs, "filter", "f", nil, "Filter output based on conditions provided")
	return cmd
}

// jsonOfRow: format prints whole rows as JSON ({{json .}}).
func jsonOfRow(format string) bool {
	return strings.Contains(strings.Join(strings.Fields(format), ""), "{{json.}}")
}

// parseFilterFlags reads --filter key=value flags.
func parseFilterFlags(args []string) (client.Filters, error) {
	f := client.Filters{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return nil, statusError{status: 125, err: fmt.Errorf("invalid argument %q for \"-f, --filter\" flag: bad format of filter (expected name=value)", a)}
		}
		f.Add(strings.ToLower(strings.TrimSpace(k)), v)
	}
	return f, nil
}

// psRow is one container as ps --format templates see it (docker's field names); the header
// row answers with column titles.
type psRow struct {
	s     *ctypes.Summary // not copied at each of a row's fields
	trunc bool
	listRow
}

var psHeader = psRow{s: &ctypes.Summary{}, listRow: listRow{header: true}}

func (r psRow) ID() string {
	return r.pick("CONTAINER ID", shortID(r.s.ID, r.trunc))
}
func (r psRow) Image() string { return r.pick("IMAGE", r.s.Image) }
func (r psRow) Command() string {
	c := r.s.Command
	if r.trunc && utf8.RuneCountInString(c) > 20 {
		c = string([]rune(c)[:19]) + "…"
	}
	return r.pick("COMMAND", strconv.Quote(c))
}
func (r psRow) CreatedAt() string {
	return r.pick("CREATED AT", time.Unix(r.s.Created, 0).String())
}
func (r psRow) RunningFor() string {
	return r.pick("CREATED", units.HumanDuration(time.Since(time.Unix(r.s.Created, 0)))+" ago")
}
func (r psRow) Ports() string  { return r.pick("PORTS", displayablePorts(r.s.Ports)) }
func (r psRow) State() string  { return r.pick("STATE", string(r.s.State)) }
func (r psRow) Status() string { return r.pick("STATUS", r.s.Status) }
func (r psRow) Size() string {
	size := units.HumanSizeWithPrecision(float64(r.s.SizeRw), 3)
	if r.s.SizeRootFs > 0 {
		size += " (virtual " + units.HumanSizeWithPrecision(float64(r.s.SizeRootFs), 3) + ")"
	}
	return r.pick("SIZE", size)
}
func (r psRow) Names() string {
	names := make([]string, 0, len(r.s.Names))
	for _, n := range r.s.Names {
		names = append(names, strings.TrimPrefix(n, "/"))
	}
	return r.pick("NAMES", strings.Join(names, ","))
}
func (r psRow) Labels() string {
	var kv []string
	for k, v := range r.s.Labels {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return r.pick("LABELS", strings.Join(kv, ","))
}
func (r psRow) Label(name string) string { return r.pick(name, r.s.Labels[name]) } // docker titles it by name
func (r psRow) Mounts() string {
	var names []string
	for _, m := range r.s.Mounts {
		name := m.Name
		if name == "" {
			name = m.Source // a bind mount
		}
		if r.trunc {
			name = ellipsis(name, 15)
		}
		names = append(names, name)
	}
	return r.pick("MOUNTS", strings.Join(names, ","))
}
func (r psRow) Networks() string {
	var names []string
	if r.s.NetworkSettings != nil {
		for n := range r.s.NetworkSettings.Networks {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return r.pick("NETWORKS", strings.Join(names, ","))
}
func (r psRow) LocalVolumes() string {
	n := 0
	for _, m := range r.s.Mounts {
		if m.Driver == "local" {
			n++
		}
	}
	return r.pick("LOCAL VOLUMES", strconv.Itoa(n))
}

// Platform is the platform of the image the container runs, when the daemon knows it: --format
// json shows it (null otherwise), as docker's does.
func (r psRow) Platform() *ocispec.Platform {
	if r.header || r.s.ImageManifestDescriptor == nil {
		return nil
	}
	return r.s.ImageManifestDescriptor.Platform
}

// MarshalJSON is the row as {{json .}} and --format json show it.
func (r psRow) MarshalJSON() ([]byte, error) { return json.Marshal(rowFields(r)) }

// ellipsis cuts s to max characters, the last of them "…", as docker's list columns do.
func ellipsis(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	return string([]rune(s)[:max-1]) + "…"
}

// eachContainer is forEachArg printing each argument that succeeded, as docker's rm and stop do.
func eachContainer(e *env, args []string, fn func(c *client.Client, ref string) error) error {
	return forEachArg(e, args, func(c *client.Client, ref string) error {
		if err := fn(c, ref); err != nil {
			return err
		}
		fmt.Fprintln(e.out, ref)
		return nil
	})
}

func killCmd(e *env) *cobra.Command {
	var signal string
	cmd := &cobra.Command{
		Use: "kill [OPTIONS] CONTAINER [CONTAINER...]", Short: "Kill one or more running containers", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return eachContainer(e, args, func(c *client.Client, ref string) error {
				_, err := c.ContainerKill(cmd.Context(), ref, client.ContainerKillOptions{Signal: signal})
				return err
			})
		},
	}
	cmd.Flags().StringVarP(&signal, "signal", "s", "", "Signal to send to the container")
	return cmd
}

func rmCmd(e *env) *cobra.Command {
	var force, volumes bool
	cmd := &cobra.Command{
		Use: "rm [OPTIONS] CONTAINER [CONTAINER...]", Short: "Remove one or more containers", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return eachContainer(e, args, func(c *client.Client, ref string) error {
				_, err := c.ContainerRemove(cmd.Context(), ref, client.ContainerRemoveOptions{Force: force, RemoveVolumes: volumes})
				return err
			})
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the removal of a running container (uses SIGKILL)")
	cmd.Flags().BoolVarP(&volumes, "volumes", "v", false, "Remove anonymous volumes associated with the container")
	return cmd
}

func stopCmd(e *env) *cobra.Command {
	var timeout int
	var signal string
	cmd := &cobra.Command{
		Use: "stop [OPTIONS] CONTAINER [CONTAINER...]", Short: "Stop one or more running containers", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := client.ContainerStopOptions{Signal: signal}
			if cmd.Flags().Changed("timeout") {
				opts.Timeout = &timeout
			}
			return eachContainer(e, args, func(c *client.Client, ref string) error {
				_, err := c.ContainerStop(cmd.Context(), ref, opts)
				return err
			})
		},
	}
	cmd.Flags().IntVarP(&timeout, "timeout", "t", 0, "Seconds to wait before killing the container")
	cmd.Flags().StringVarP(&signal, "signal", "s", "", "Signal to send to the container")
	return cmd
}

func waitCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use: "wait CONTAINER [CONTAINER...]", Short: "Block until one or more containers stop, then print their exit codes", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return forEachArg(e, args, func(c *client.Client, ref string) error {
				w := c.ContainerWait(cmd.Context(), ref, client.ContainerWaitOptions{})
				select {
				case res := <-w.Result:
					fmt.Fprintln(e.out, res.StatusCode)
					return nil
				case err := <-w.Error:
					return err
				}
			})
		},
	}
}

func logsCmd(e *env) *cobra.Command {
	var follow, timestamps, details bool
	var tail, since, until string
	cmd := &cobra.Command{
		Use: "logs [OPTIONS] CONTAINER", Short: "Fetch the logs of a container", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			insp, err := c.ContainerInspect(cmd.Context(), args[0], client.ContainerInspectOptions{})
			if err != nil {
				return err
			}
			rc, err := c.ContainerLogs(cmd.Context(), args[0], client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true,
				Follow: follow, Timestamps: timestamps, Tail: tail, Since: since, Until: until, Details: details})
			if err != nil {
				return err
			}
			defer rc.Close()
			if insp.Container.Config != nil && insp.Container.Config.Tty {
				_, err = io.Copy(e.out, rc)
				return err
			}
			_, err = stdcopy.StdCopy(e.out, e.errOut, rc)
			return err
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "Follow log output")
	cmd.Flags().BoolVarP(&timestamps, "timestamps", "t", false, "Show timestamps")
	cmd.Flags().StringVarP(&tail, "tail", "n", "all", "Number of lines to show from the end of the logs")
	cmd.Flags().StringVar(&since, "since", "", "Show logs since timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. \"42m\" for 42 minutes)")
	cmd.Flags().StringVar(&until, "until", "", "Show logs before a timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. \"42m\" for 42 minutes)")
	cmd.Flags().BoolVar(&details, "details", false, "Show extra details provided to logs")
	return cmd
}

func inspectCmd(e *env) *cobra.Command {
	var format, kind string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NAME|ID [NAME|ID...]",
		Short: "Return low-level information on berth objects (containers, then images)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var items []any
			failed := forEachArg(e, args, func(c *client.Client, ref string) error {
				if kind == "" || kind == "container" {
					res, err := c.ContainerInspect(cmd.Context(), ref, client.ContainerInspectOptions{})
					if err == nil {
						items = append(items, inspected{res.Container, res.Raw})
						return nil
					}
					if kind == "container" {
						return err
					}
				}
				res, err := c.ImageInspect(cmd.Context(), ref)
				if err != nil {
					return statusError{status: 1, err: errors.New("Error: No such object: " + ref)}
				}
				items = append(items, res.InspectResponse)
				return nil
			})
			return inspectResult(e, items, format, failed)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a Go template")
	cmd.Flags().StringVar(&kind, "type", "", "Only inspect objects of the given type (container or image)")
	return cmd
}
