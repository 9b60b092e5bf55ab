// berth is berth's command line: docker's commands, flags, output and exit codes, spoken to
// berthd through the Docker Engine API.
package main

import (
	"os"

	"github.com/berthproject/berth/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
