// berth-shim is the parent of one container: it runs the OCI runtime, owns the container's
// output (json-file log), reaps it and records its exit, independently of berthd. berthd starts
// it; it is not meant to be run by hand.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/internal/logs/jsonfile"
	"github.com/berthproject/berth/internal/monitor"
)

// arguments are the command line's, or, for a shim berthd starts ahead of need
// (--args-fd N), those it is given later on fd N, NUL-separated; EOF without any means berthd
// needs it no more.
func arguments() []string {
	args := os.Args[1:]
	if len(args) != 2 || args[0] != "--args-fd" {
		return args
	}
	fd, err := strconv.Atoi(args[1])
	if err != nil || fd < 3 {
		fmt.Fprintln(os.Stderr, "berth-shim: --args-fd needs a file descriptor above 2")
		os.Exit(2)
	}
	f := os.NewFile(uintptr(fd), "args")
	b, err := io.ReadAll(f)
	f.Close()
	if err != nil || len(b) == 0 {
		os.Exit(0)
	}
	return strings.Split(string(b), "\x00")
}

func main() {
	var o monitor.Options
	flag.StringVar(&o.ID, "id", "", "container id")
	flag.StringVar(&o.Bundle, "bundle", "", "OCI bundle directory")
	flag.StringVar(&o.Runtime, "runtime", "", "path of the OCI runtime")
	flag.StringVar(&o.RuntimeRoot, "runtime-root", "/run/berth-runtime", "the runtime's --root")
	flag.StringVar(&o.StateDir, "state", "", "shim state directory (socket, exit record)")
	flag.StringVar(&o.LogPath, "log", "", "json-file log path")
	flag.StringVar(&o.Socket, "socket", "", "control socket path (default: STATE/shim.sock)")
	flag.Int64Var(&o.LogMaxSize, "log-max-size", jsonfile.DefaultMaxSize, "rotate the log at this size in bytes (0: never)")
	flag.IntVar(&o.LogMaxFiles, "log-max-files", jsonfile.DefaultMaxFiles, "log files kept")
	flag.BoolVar(&o.Tty, "tty", false, "give the container a terminal")
	flag.BoolVar(&o.Stdin, "stdin", false, "keep the container's input open for attachers")
	flag.BoolVar(&o.StdinOnce, "stdin-once", false, "close the container's input when the first attacher's ends")
	var height, width uint
	flag.UintVar(&height, "height", 0, "initial terminal height")
	flag.UintVar(&width, "width", 0, "initial terminal width")
	flag.IntVar(&o.Attachers, "attachers", 0, "clients that attach around the start (output is held for them)")
	flag.StringVar(&o.Cgroup, "cgroup", "", "the container's cgroup path (default: read from the bundle)")
	readyFd := flag.Int("ready-fd", 0, "file descriptor to signal (and close) once the start is decided")
	proceedFd := flag.Int("proceed-fd", 0, "file descriptor to read a go-ahead byte from before running the runtime")
	output := flag.String("output", "", "file the shim's own output is appended to")
	flag.BoolVar(&o.RuntimeProceeds, "runtime-proceeds", false, "hand the go-ahead to the runtime (berth-runtime's --proceed-fd)")
	flag.CommandLine.Parse(arguments())
	if *output != "" {
		f, err := os.OpenFile(*output, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			fmt.Fprintf(os.Stderr, "berth-shim: %v\n", err)
			os.Exit(1)
		}
		unix.Dup2(int(f.Fd()), 1)
		unix.Dup2(int(f.Fd()), 2)
		f.Close()
	}
	o.Height, o.Width = uint16(height), uint16(width)
	if *readyFd > 2 {
		o.Ready = os.NewFile(uintptr(*readyFd), "ready")
	}
	if *proceedFd > 2 {
		o.Proceed = os.NewFile(uintptr(*proceedFd), "proceed")
	}
	if o.ID == "" || o.Bundle == "" || o.Runtime == "" || o.StateDir == "" || o.LogPath == "" {
		fmt.Fprintln(os.Stderr, "berth-shim: --id, --bundle, --runtime, --state and --log are required")
		os.Exit(2)
	}
	if err := monitor.Run(context.Background(), o); err != nil {
		fmt.Fprintf(os.Stderr, "berth-shim: %v\n", err)
		os.Exit(1)
	}
}
