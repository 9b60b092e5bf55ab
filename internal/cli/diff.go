package cli

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func diffCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use: "diff CONTAINER", Short: "Inspect changes to files or directories on a container's filesystem",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			res, err := c.ContainerDiff(cmd.Context(), args[0], client.ContainerDiffOptions{})
			if err != nil {
				return err
			}
			for _, ch := range res.Changes {
				fmt.Fprintf(e.out, "%s %s\n", ch.Kind, ch.Path)
			}
			return nil
		},
	}
}

func exportCmd(e *env) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use: "export [OPTIONS] CONTAINER", Short: "Export a container's filesystem as a tar archive",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var w io.Writer = e.out
			if output == "" {
				if f, ok := e.out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
					return statusError{status: 1, err: errors.New("cowardly refusing to save to a terminal. Use the -o flag or redirect")}
				}
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			body, err := c.ContainerExport(cmd.Context(), args[0], client.ContainerExportOptions{})
			if err != nil {
				return err
			}
			defer body.Close()
			if output != "" {
				f, err := os.Create(output)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			_, err = io.Copy(w, body)
			return err
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "Write to a file, instead of STDOUT")
	return cmd
}
