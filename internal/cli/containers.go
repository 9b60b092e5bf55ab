package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// startFailure maps a failed start to docker's exit codes: 127 for a missing command, 126 for
// one that cannot be executed, 125 otherwise.
func startFailure(err error, host string) error {
	msg := explain(err, host)
	status := 125
	switch {
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory"):
		status = 127
	case strings.Contains(msg, "permission denied"), strings.Contains(msg, "exec format error"):
		status = 126
	}
	return statusError{status: status, err: errors.New(msg)}
}

func psCmd(e *env) *cobra.Command {
	var all, quiet, noTrunc bool
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS]",
		Short: "List containers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			res, err := c.ContainerList(cmd.Context(), client.ContainerListOptions{All: all})
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(e.out, 10, 1, 3, ' ', 0)
			if !quiet {
				fmt.Fprintln(w, "CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAMES")
			}
			for _, s := range res.Items {
				id, command := s.ID, fmt.Sprintf("%q", s.Command)
				if !noTrunc {
					id = id[:12]
					if len(s.Command) > 20 {
						command = fmt.Sprintf("%q", s.Command[:19]+"…")
					}
				}
				if quiet {
					fmt.Fprintln(w, id)
					continue
				}
				names := make([]string, len(s.Names))
				for i, n := range s.Names {
					names[i] = strings.TrimPrefix(n, "/")
				}
				created := units.HumanDuration(time.Since(time.Unix(s.Created, 0))) + " ago"
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t\t%s\n", id, s.Image, command, created, s.Status, strings.Join(names, ","))
			}
			return w.Flush()
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Show all containers (default shows just running)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display container IDs")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "Don't truncate output")
	return cmd
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

func rmCmd(e *env) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use: "rm [OPTIONS] CONTAINER [CONTAINER...]", Short: "Remove one or more containers", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return eachContainer(e, args, func(c *client.Client, ref string) error {
				_, err := c.ContainerRemove(cmd.Context(), ref, client.ContainerRemoveOptions{Force: force})
				return err
			})
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the removal of a running container (uses SIGKILL)")
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
	var follow, timestamps bool
	var tail string
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
				Follow: follow, Timestamps: timestamps, Tail: tail})
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
						items = append(items, res.Container)
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
