package cli

import (
	"fmt"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/berthproject/berth/internal/version"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func versionCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Show the berth version information",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			w := tabwriter.NewWriter(e.out, 0, 0, 1, ' ', 0)
			fmt.Fprintf(w, "Client:\n")
			fmt.Fprintf(w, " Version:\t%s\n", version.Version)
			fmt.Fprintf(w, " API version:\t%s\n", version.APIVersion)
			fmt.Fprintf(w, " Go version:\t%s\n", runtime.Version())
			fmt.Fprintf(w, " Git commit:\t%s\n", version.GitCommit)
			fmt.Fprintf(w, " OS/Arch:\t%s/%s\n", runtime.GOOS, runtime.GOARCH)
			w.Flush()
			c, err := e.client()
			if err != nil {
				return err
			}
			v, err := c.ServerVersion(cmd.Context(), client.ServerVersionOptions{})
			if err != nil {
				fmt.Fprintln(e.out)
				return err
			}
			fmt.Fprintf(w, "\nServer: %s\n", v.Platform.Name)
			for _, comp := range v.Components {
				fmt.Fprintf(w, " %s:\n", comp.Name)
				fmt.Fprintf(w, "  Version:\t%s\n", comp.Version)
				if comp.Name != "Engine" {
					continue
				}
				d := comp.Details
				fmt.Fprintf(w, "  API version:\t%s (minimum version %s)\n", d["ApiVersion"], d["MinAPIVersion"])
				fmt.Fprintf(w, "  Go version:\t%s\n", d["GoVersion"])
				fmt.Fprintf(w, "  Git commit:\t%s\n", d["GitCommit"])
				fmt.Fprintf(w, "  OS/Arch:\t%s/%s\n", d["Os"], d["Arch"])
				fmt.Fprintf(w, "  Experimental:\t%s\n", d["Experimental"])
			}
			return w.Flush()
		},
	}
}

func infoCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "info",
		Short: "Display system-wide information",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			res, err := c.Info(cmd.Context(), client.InfoOptions{})
			if err != nil {
				return err
			}
			i := res.Info
			var rts []string
			for name := range i.Runtimes {
				rts = append(rts, name)
			}
			sort.Strings(rts)
			p := func(format string, a ...any) { fmt.Fprintf(e.out, format+"\n", a...) }
			p("Client:")
			p(" Version:    %s", version.Version)
			p(" Context:    %s", e.host)
			p(" Debug Mode: false")
			p("")
			p("Server:")
			p(" Containers: %d", i.Containers)
			p("  Running: %d", i.ContainersRunning)
			p("  Paused: %d", i.ContainersPaused)
			p("  Stopped: %d", i.ContainersStopped)
			p(" Images: %d", i.Images)
			p(" Server Version: %s", i.ServerVersion)
			p(" Storage Driver: %s", i.Driver)
			p(" Logging Driver: %s", i.LoggingDriver)
			p(" Cgroup Driver: %s", i.CgroupDriver)
			p(" Cgroup Version: %s", i.CgroupVersion)
			p(" Runtimes: %s", strings.Join(rts, " "))
			p(" Default Runtime: %s", i.DefaultRuntime)
			p(" Security Options:")
			for _, o := range i.SecurityOptions {
				p("  %s", strings.TrimPrefix(o, "name="))
			}
			p(" Kernel Version: %s", i.KernelVersion)
			p(" Operating System: %s", i.OperatingSystem)
			p(" OSType: %s", i.OSType)
			p(" Architecture: %s", i.Architecture)
			p(" CPUs: %d", i.NCPU)
			p(" Total Memory: %s", humanBytes(i.MemTotal))
			p(" Name: %s", i.Name)
			p(" ID: %s", i.ID)
			p(" Docker Root Dir: %s", i.DockerRootDir)
			p(" Debug Mode: %t", i.Debug)
			p(" Live Restore Enabled: %t", i.LiveRestoreEnabled)
			for _, w := range i.Warnings {
				fmt.Fprintln(e.errOut, w)
			}
			return nil
		},
	}
}

// humanBytes formats a size as docker's CLI does (binary units, two decimals: "23.44GiB").
func humanBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	return fmt.Sprintf("%.4g%s", f, units[i])
}
