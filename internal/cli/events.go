package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/template"
	"time"

	evtypes "github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// rfc3339NanoFixed is docker's event timestamp: nanoseconds always printed.
const rfc3339NanoFixed = "2006-01-02T15:04:05.000000000Z07:00"

func eventsCmd(e *env) *cobra.Command {
	var since, until, format string
	var filters []string
	cmd := &cobra.Command{
		Use: "events [OPTIONS]", Short: "Get real time events from the server", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			f := client.Filters{}
			for _, kv := range filters {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return statusError{status: 125, err: fmt.Errorf("invalid argument %q for \"-f, --filter\" flag: bad format of filter (expected name=value)", kv)}
				}
				f.Add(strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v))
			}
			var tmpl *template.Template
			if format != "" && format != "json" {
				if tmpl, err = template.New("").Funcs(templateFuncs).Parse(format); err != nil {
					return statusError{status: 64, err: fmt.Errorf("template parsing error: %w", err)}
				}
			}
			res := c.Events(cmd.Context(), client.EventsListOptions{Since: since, Until: until, Filters: f})
			for {
				select {
				case m := <-res.Messages:
					if err := printEvent(e.out, m, format, tmpl); err != nil {
						return err
					}
				case err := <-res.Err:
					if err == nil || errors.Is(err, io.EOF) {
						return nil
					}
					return err
				}
			}
		},
	}
	cmd.Flags().StringVar(&since, "since", "", "Show all events created since timestamp")
	cmd.Flags().StringVar(&until, "until", "", "Stream events until this timestamp")
	cmd.Flags().StringArrayVarP(&filters, "filter", "f", nil, "Filter output based on conditions provided")
	cmd.Flags().StringVar(&format, "format", "", "Format output using a custom template ('json' or a Go template)")
	return cmd
}

// printEvent writes one event as docker does: "time type action id (k=v, ...)", or through the
// --format template, or as a JSON line.
func printEvent(out io.Writer, m evtypes.Message, format string, tmpl *template.Template) error {
	switch {
	case format == "json":
		b, err := json.Marshal(m)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(out, string(b))
		return err
	case tmpl != nil:
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, m); err != nil {
			return err
		}
		_, err := fmt.Fprintln(out, buf.String())
		return err
	}
	var b strings.Builder
	if m.TimeNano != 0 {
		b.WriteString(time.Unix(0, m.TimeNano).Format(rfc3339NanoFixed) + " ")
	} else if m.Time != 0 {
		b.WriteString(time.Unix(m.Time, 0).Format(rfc3339NanoFixed) + " ")
	}
	fmt.Fprintf(&b, "%s %s %s", m.Type, m.Action, m.Actor.ID)
	if len(m.Actor.Attributes) > 0 {
		keys := make([]string, 0, len(m.Actor.Attributes))
		for k := range m.Actor.Attributes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		attrs := make([]string, len(keys))
		for i, k := range keys {
			attrs[i] = k + "=" + m.Actor.Attributes[k]
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(attrs, ", "))
	}
	_, err := fmt.Fprintln(out, b.String())
	return err
}
