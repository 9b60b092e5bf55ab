// berth-runtime-init is the first program of every container berth-runtime starts: nsenter's
// constructor sets up the namespaces, then initproc builds the container and execs its process.
// It is a separate, small, static binary so that this path loads nothing else; berth-runtime
// falls back to running itself as the init when this file is not beside it.
package main

import (
	"fmt"
	"os"

	"github.com/berthproject/berth/internal/runtime/initproc"
	_ "github.com/berthproject/berth/internal/runtime/nsenter"
)

func main() {
	if !initproc.IsInit() {
		fmt.Fprintln(os.Stderr, "berth-runtime-init: this program is started by berth-runtime, not by hand")
		os.Exit(2)
	}
	initproc.Main()
}
