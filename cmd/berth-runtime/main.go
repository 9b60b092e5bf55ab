// berth-runtime is berth's OCI runtime, with runc's command line: create, start, state, kill,
// delete, run, exec, pause, resume, ps, list, features, spec.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/berthproject/berth/internal/runtime/initproc"
	"github.com/berthproject/berth/internal/version"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"os"
	"time"

	"github.com/berthproject/berth/internal/runtime/libct"
	"github.com/spf13/cobra"
)

type globals struct {
	root      string
	log       string
	logFormat string
	debug     bool
	systemd   bool
}

func main() {
	if initproc.IsInit() {
		initproc.Main() // never returns
	}
	if len(os.Args) == 3 && os.Args[1] == "--args-fd" {
		args, err := awaitArguments(os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, "berth-runtime: --args-fd:", err)
			os.Exit(1)
		}
		os.Args = args
	}
	g := &globals{}
	cmd := rootCommand(g)
	if err := cmd.Execute(); err != nil {
		var ec exitCode
		if errors.As(err, &ec) {
			os.Exit(int(ec))
		}
		reportError(g, err)
		os.Exit(1)
	}
}

// exitCode carries a container's exit status out of run/exec without printing an error.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func reportError(g *globals, err error) { g.logLine("error", err.Error()) }

// logLine writes a message to --log when given (as runc does: a caller such as a shim hands the
// container's own stderr to the runtime, which must not receive the runtime's messages), else to
// stderr.
func (g *globals) logLine(level, msg string) {
	prefix := "berth-runtime: "
	if level != "error" {
		prefix += level + ": "
	}
	if g.log == "" {
		fmt.Fprintln(os.Stderr, prefix+msg)
		return
	}
	f, err := os.OpenFile(g.log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, prefix+msg)
		return
	}
	defer f.Close()
	now := time.Now().Format(time.RFC3339Nano)
	if g.logFormat == "json" {
		b, _ := json.Marshal(map[string]string{"level": level, "msg": msg, "time": now})
		f.Write(append(b, '\n'))
	} else {
		fmt.Fprintf(f, "time=%q level=%s msg=%q\n", now, level, msg)
	}
}

func rootCommand(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:           "berth-runtime",
		Short:         "berth's OCI container runtime (runc-compatible command line)",
		Version:       version.Version + "\nspec: " + specs.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if g.systemd {
				return errors.New("--systemd-cgroup is not supported: use cgroupfs paths")
			}
			return nil
		},
	}
	f := root.PersistentFlags()
	f.StringVar(&g.root, "root", "/run/berth-runtime", "directory for the state of containers")
	f.StringVar(&g.log, "log", "", "file to write errors to (as runc's --log)")
	f.StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	f.BoolVar(&g.debug, "debug", false, "enable debug output")
	f.BoolVar(&g.systemd, "systemd-cgroup", false, "use the systemd cgroup driver (not supported)")
	var rootless string
	f.StringVar(&rootless, "rootless", "auto", "accepted for runc compatibility")
	root.AddCommand(createCmd(g), startCmd(g), stateCmd(g), killCmd(g), deleteCmd(g), runCmd(g),
		execCmd(g), pauseCmd(g), resumeCmd(g), psCmd(g), listCmd(g), featuresCmd(), specCmd(), eventsCmd(g), updateCmd(g))
	return root
}

var startTime = time.Now()

func (g *globals) runtime() *libct.Runtime {
	rt := &libct.Runtime{
		Store: libct.Store{Root: g.root},
		Warn:  func(format string, a ...any) { g.logLine("warning", fmt.Sprintf(format, a...)) },
	}
	if g.debug {
		rt.Debug = func(format string, a ...any) {
			fmt.Fprintf(os.Stderr, "berth-runtime: debug: %8.3fms @%d "+format+"\n", append([]any{float64(time.Since(startTime).Microseconds()) / 1000, time.Now().UnixMicro()}, a...)...)
		}
	}
	return rt
}

func stdio() [3]*os.File { return [3]*os.File{os.Stdin, os.Stdout, os.Stderr} }

func ctx() context.Context { return context.Background() }
