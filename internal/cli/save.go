package cli

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/jsonmessage"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func saveCmd(e *env) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "save [OPTIONS] IMAGE [IMAGE...]",
		Short: "Save one or more images to a tar archive (streamed to STDOUT by default)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var out io.Writer = e.out
			if output == "" {
				if f, ok := e.out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
					return statusError{status: 1, err: errors.New("cowardly refusing to save to a terminal. Use the -o flag or redirect")}
				}
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			resp, err := c.ImageSave(cmd.Context(), args)
			if err != nil {
				return statusError{status: 1, err: errors.New(explain(err, e.host))}
			}
			defer resp.Close()
			if output != "" {
				tmp := output + ".tmp"
				f, err := os.Create(tmp)
				if err != nil {
					return statusError{status: 1, err: fmt.Errorf("failed to save image: %w", err)}
				}
				if _, err := io.Copy(f, resp); err != nil {
					f.Close()
					os.Remove(tmp)
					return statusError{status: 1, err: errors.New(explain(err, e.host))}
				}
				if err := f.Close(); err != nil {
					return err
				}
				return os.Rename(tmp, output)
			}
			_, err = io.Copy(out, resp)
			return err
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "Write to a file, instead of STDOUT")
	cmd.SetFlagErrorFunc(flagError)
	return cmd
}

func loadCmd(e *env) *cobra.Command {
	var input string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "load [OPTIONS]",
		Short: "Load an image from a tar archive or STDIN",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var in io.Reader = e.in
			if input != "" {
				f, err := os.Open(input)
				if err != nil {
					return statusError{status: 1, err: err}
				}
				defer f.Close()
				in = f
			} else if f, ok := e.in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				return statusError{status: 1, err: errors.New("requested load from stdin, but stdin is empty")}
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			resp, err := c.ImageLoad(cmd.Context(), in, client.ImageLoadWithQuiet(quiet))
			if err != nil {
				return statusError{status: 1, err: errors.New(explain(err, e.host))}
			}
			defer resp.Close()
			if err := jsonmessage.DisplayJSONMessagesStream(resp, e.out, 0, false, nil); err != nil {
				return statusError{status: 1, err: err}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&input, "input", "i", "", "Read from tar archive file, instead of STDIN")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Suppress the load output")
	cmd.SetFlagErrorFunc(flagError)
	return cmd
}
