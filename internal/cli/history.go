package cli

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	units "github.com/docker/go-units"
	imagetypes "github.com/moby/moby/api/types/image"
	"github.com/spf13/cobra"
)

type historyRow struct {
	h     imagetypes.HistoryResponseItem
	trunc bool
	human bool
	listRow
}

func (r historyRow) ID() string {
	id := r.h.ID
	if r.trunc && id != "<missing>" {
		id = strings.TrimPrefix(id, "sha256:")
		id = id[:min(12, len(id))]
	}
	return r.pick("IMAGE", id)
}
func (r historyRow) CreatedSince() string {
	if !r.human {
		return r.pick("CREATED", time.Unix(r.h.Created, 0).Format(time.RFC3339))
	}
	return r.pick("CREATED", units.HumanDuration(time.Since(time.Unix(r.h.Created, 0)))+" ago")
}
func (r historyRow) CreatedAt() string {
	return r.pick("CREATED AT", time.Unix(r.h.Created, 0).Format(time.RFC3339))
}
func (r historyRow) CreatedBy() string {
	s := strings.ReplaceAll(r.h.CreatedBy, "\t", " ")
	if r.trunc && len([]rune(s)) > 45 {
		s = string([]rune(s)[:44]) + "…"
	}
	return r.pick("CREATED BY", s)
}
func (r historyRow) Size() string {
	if !r.human {
		return r.pick("SIZE", strconv.FormatInt(r.h.Size, 10))
	}
	return r.pick("SIZE", units.HumanSizeWithPrecision(float64(r.h.Size), 3))
}
func (r historyRow) Comment() string { return r.pick("COMMENT", r.h.Comment) }

func historyCmd(e *env) *cobra.Command {
	var quiet, noTrunc, human bool
	var format string
	cmd := &cobra.Command{
		Use:   "history [OPTIONS] IMAGE",
		Short: "Show the history of an image",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			res, err := c.ImageHistory(cmd.Context(), args[0])
			if err != nil {
				return statusError{status: 1, err: errors.New(explain(err, e.host))}
			}
			rows := []historyRow{}
			for _, h := range res.Items {
				rows = append(rows, historyRow{h: h, trunc: !noTrunc, human: human})
			}
			if quiet {
				for _, r := range rows {
					fmt.Fprintln(e.out, r.ID())
				}
				return nil
			}
			return printRows(e.out, format, "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}", historyRow{listRow: listRow{header: true}}, rows)
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only show image IDs")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "Don't truncate output")
	cmd.Flags().BoolVar(&human, "human", true, "Print sizes and dates in human readable format")
	cmd.Flags().StringVar(&format, "format", "", "Format output using a custom template")
	cmd.SetFlagErrorFunc(flagError)
	return cmd
}
