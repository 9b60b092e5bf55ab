package cli

import (
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// searchRow is one search result as docker's search --format templates see it.
type searchRow struct {
	r     registry.SearchResult
	trunc bool
	json  bool // --format json shows the booleans as true/false
	listRow
}

func (r searchRow) Name() string { return r.pick("NAME", r.r.Name) }
func (r searchRow) Description() string {
	desc := strings.NewReplacer("\n", " ", "\r", " ").Replace(r.r.Description)
	if r.trunc && len([]rune(desc)) > 45 {
		desc = string([]rune(desc)[:44]) + "…"
	}
	return r.pick("DESCRIPTION", desc)
}
func (r searchRow) StarCount() string  { return r.pick("STARS", strconv.Itoa(r.r.StarCount)) }
func (r searchRow) IsOfficial() string { return r.pick("OFFICIAL", r.flag(r.r.IsOfficial)) }

func (r searchRow) flag(b bool) string {
	switch {
	case r.json:
		return strconv.FormatBool(b)
	case b:
		return "[OK]"
	}
	return ""
}

func searchCmd(e *env) *cobra.Command {
	var limit int
	var format string
	var noTrunc bool
	var filterArgs []string
	cmd := &cobra.Command{
		Use: "search [OPTIONS] TERM", Short: "Search a registry for images (HOST:PORT/TERM: its catalog)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := parseFilterFlags(filterArgs)
			if err != nil {
				return err
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			host, _ := splitSearchHost(args[0])
			res, err := c.ImageSearch(cmd.Context(), args[0], client.ImageSearchOptions{Limit: limit, Filters: f, RegistryAuth: encodedAuth(host)})
			if err != nil {
				return err
			}
			rows := make([]searchRow, 0, len(res.Items))
			for _, r := range res.Items {
				rows = append(rows, searchRow{r: r, trunc: !noTrunc, json: format == "json"})
			}
			return printRows(e.out, format, "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}", searchRow{listRow: listRow{header: true}}, rows)
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 0, "Max number of search results")
	cmd.Flags().StringVar(&format, "format", "", "Pretty-print search using a Go template")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "Don't truncate output")
	cmd.Flags().StringArrayVarP(&filterArgs, "filter", "f", nil, "Filter output based on conditions provided")
	return cmd
}

// splitSearchHost is the registry a search term names ("docker.io" when none).
func splitSearchHost(term string) (host, words string) {
	first, rest, ok := strings.Cut(term, "/")
	if ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return first, rest
	}
	return "docker.io", term
}
