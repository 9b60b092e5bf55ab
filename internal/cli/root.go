// Package cli is the berth command line: cobra commands over the Docker Engine API client
// (github.com/moby/moby/client), with docker's output formats and exit codes.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"syscall"

	"github.com/berthproject/berth/internal/version"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// DefaultHost is where berthd listens unless told otherwise.
const DefaultHost = "unix:///var/run/berth.sock"

// statusError carries an exit status out of a command, as docker's CLI does.
type statusError struct {
	status int
	err    error
}

func (e statusError) Error() string { return e.err.Error() }

// env is what every command shares: the streams and the API client.
type env struct {
	host           string
	in             io.Reader
	out, errOut    io.Writer
	clientInstance *client.Client
}

// client connects lazily, so `berth --help` works without a daemon.
func (e *env) client() (*client.Client, error) {
	if e.clientInstance != nil {
		return e.clientInstance, nil
	}
	c, err := client.New(client.WithHost(e.host))
	if err != nil {
		return nil, err
	}
	e.clientInstance = c
	return c, nil
}

// Main runs the CLI and returns its exit status.
func Main(args []string, in io.Reader, out, errOut io.Writer) int {
	e := &env{in: in, out: out, errOut: errOut}
	root := &cobra.Command{
		Use:           "berth [OPTIONS] COMMAND",
		Short:         "A container engine that speaks Docker",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, args []string) {
			if e.host == "" {
				e.host = os.Getenv("BERTH_HOST")
			}
			if e.host == "" {
				e.host = DefaultHost
			}
		},
	}
	root.SetArgs(args)
	root.SetIn(in)
	root.SetOut(out)
	root.SetErr(errOut)
	root.Flags().BoolP("version", "v", false, "Print version information and quit")
	root.PersistentFlags().StringVarP(&e.host, "host", "H", "", "daemon socket to connect to (default $BERTH_HOST, then "+DefaultHost+")")
	root.Version = version.Version
	root.SetVersionTemplate("berth version {{.Version}}, build " + version.GitCommit + "\n")
	if build := topCommand(args); build != nil {
		if cmd := build(e); cmd != nil {
			root.AddCommand(cmd)
		}
	} else {
		for _, t := range topCommands {
			root.AddCommand(t.build(e))
		}
	}
	err := root.ExecuteContext(context.Background())
	if err == nil {
		return 0
	}
	var se statusError
	if errors.As(err, &se) {
		if se.err != nil && se.err.Error() != "" {
			fmt.Fprintln(errOut, se.err)
		}
		return se.status
	}
	fmt.Fprintln(errOut, explain(err, e.host))
	if strings.HasPrefix(err.Error(), "unknown command") || strings.HasPrefix(err.Error(), "unknown flag") ||
		strings.Contains(err.Error(), "accepts") || strings.Contains(err.Error(), "requires") {
		fmt.Fprintln(errOut, "See 'berth --help'.")
		return 125
	}
	return 1
}

// topCommands are berth's commands by name: a run builds only the one it calls (each command's
// flags cost allocations, and so page faults, that a short-lived CLI pays at every start).
var topCommands = []struct {
	name  string
	build func(*env) *cobra.Command
}{
	{"version", versionCmd}, {"info", infoCmd}, {"events", eventsCmd}, {"system", systemCmd},
	{"run", runCmd}, {"create", createCmd}, {"start", startCmd}, {"attach", attachCmd}, {"exec", execCmd},
	{"ps", psCmd}, {"logs", logsCmd}, {"inspect", inspectCmd}, {"stop", stopCmd}, {"kill", killCmd},
	{"restart", restartCmd}, {"rm", rmCmd}, {"wait", waitCmd}, {"pause", pauseCmd}, {"unpause", unpauseCmd},
	{"rename", renameCmd}, {"top", topCmd}, {"update", updateCmd}, {"port", portCmd}, {"stats", statsCmd},
	{"cp", cpCmd}, {"diff", diffCmd}, {"export", exportCmd}, {"commit", commitCmd}, {"container", containerCmd},
	{"images", imagesCmd}, {"import", importCmd}, {"tag", tagCmd}, {"rmi", rmiCmd}, {"pull", pullCmd},
	{"push", pushCmd}, {"login", loginCmd}, {"logout", logoutCmd}, {"save", saveCmd}, {"load", loadCmd},
	{"history", historyCmd}, {"search", searchCmd}, {"build", buildCmd}, {"builder", builderCmd},
	{"image", imageCmd}, {"network", networkCmd}, {"volume", volumeCmd},
}

// topCommand is the builder of the command args call, found as cobra will find it (past the
// root's flags), or nil when that takes the whole tree: no command (help), help, completion, an
// unknown name (for cobra's suggestions). --version alone needs no command (noCommand).
func topCommand(args []string) func(*env) *cobra.Command {
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-H" || a == "--host":
			i++ // its value
		case a == "--":
			return nil
		case strings.HasPrefix(a, "-"):
		default:
			for _, t := range topCommands {
				if t.name == a {
					return t.build
				}
			}
			return nil
		}
	}
	if slices.Contains(args, "--version") || slices.Contains(args, "-v") {
		return noCommand
	}
	return nil
}

func noCommand(*env) *cobra.Command { return nil }

// explain turns a failure to reach the daemon into what the user should do about it.
func explain(err error, host string) string {
	switch {
	// Only a refused connection is the socket's fault: a daemon's answer may say "permission
	// denied" about something else (a container's command that cannot be executed).
	case errors.Is(err, syscall.EACCES) || strings.Contains(err.Error(), "connect: permission denied"):
		return fmt.Sprintf("permission denied while trying to connect to the berth daemon socket at %s.\n"+
			"Add your user to the daemon's group and log in again: sudo usermod -aG berth $USER", host)
	case client.IsErrConnectionFailed(err) || errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("Cannot connect to the berth daemon at %s. Is berthd running?\n"+
			"Start it with: sudo systemctl start berth (or run: sudo berthd)", host)
	}
	return "Error response from daemon: " + strings.TrimPrefix(err.Error(), "Error response from daemon: ")
}

// forEachArg runs fn for every argument and then fails with all their errors together (exit 1),
// as docker's commands that take several objects do: one bad argument does not stop the rest.
// An error that is already a statusError is shown as it is; others are explained.
func forEachArg(e *env, args []string, fn func(c *client.Client, ref string) error) error {
	c, err := e.client()
	if err != nil {
		return err
	}
	var failed []string
	for _, ref := range args {
		if err := fn(c, ref); err != nil {
			var se statusError
			if errors.As(err, &se) {
				failed = append(failed, se.err.Error())
			} else {
				failed = append(failed, explain(err, e.host))
			}
		}
	}
	if len(failed) > 0 {
		return statusError{status: 1, err: errors.New(strings.Join(failed, "\n"))}
	}
	return nil
}

// inspectResult prints what inspect found, then reports what it did not (failed, from forEachArg).
func inspectResult(e *env, items []any, format string, failed error) error {
	var se statusError
	if failed != nil && !errors.As(failed, &se) {
		return failed // no client at all: nothing to print
	}
	if err := printInspect(e.out, items, format); err != nil {
		return err
	}
	return failed
}
