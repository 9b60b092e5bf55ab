package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/template"

	"golang.org/x/text/cases"
	"golang.org/x/text/language"
)

// templateFuncs are the functions docker's --format templates offer.
var templateFuncs = template.FuncMap{
	"json": func(v any) string {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.Encode(v)
		return strings.TrimSpace(buf.String())
	},
	"join":    strings.Join,
	"split":   strings.Split,
	"upper":   strings.ToUpper,
	"lower":   strings.ToLower,
	"title":   func(s string) string { return cases.Title(language.Und).String(s) },
	"println": func(a ...any) string { return fmt.Sprintln(a...) },
}

// printInspect writes items as docker's inspect does: a JSON array indented by four spaces, or
// each item through a Go template.
func printInspect(out io.Writer, items []any, format string) error {
	if format == "" {
		if items == nil {
			items = []any{}
		}
		b, err := json.MarshalIndent(items, "", "    ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(out, string(b))
		return err
	}
	tmpl, err := template.New("").Funcs(templateFuncs).Parse(format)
	if err != nil {
		return statusError{status: 1, err: fmt.Errorf("template parsing error: %w", err)}
	}
	for _, it := range items {
		// As docker: the typed value first (.ID), then the raw JSON (.Id) if that fails.
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, it); err != nil {
			buf.Reset()
			b, merr := json.Marshal(it)
			if merr != nil {
				return merr
			}
			var raw any
			if merr := json.Unmarshal(b, &raw); merr != nil {
				return merr
			}
			if rerr := tmpl.Execute(&buf, raw); rerr != nil {
				return statusError{status: 1, err: fmt.Errorf("template: %w", err)}
			}
		}
		fmt.Fprintln(out, buf.String())
	}
	return nil
}
