// berth is berth's command line: docker's commands, flags, output and exit codes, spoken to
// berthd through the Docker Engine API.
package main

import (
	"os"
	"runtime/debug"

	"github.com/berthproject/berth/internal/cli"
)

func main() {
	// Most commands live for milliseconds and decode one response: collecting garbage as often
	// as a server would costs `ps -a` with 1000 containers about a third of its CPU time. A
	// command that lives long (logs -f, stats, attach) keeps a small heap, so 5x it stays small.
	// GOGC in the environment still wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
