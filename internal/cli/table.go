package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"
	"text/tabwriter"
	"text/template"
)

// printRows writes list output as docker's --format does: "table ..." (or nothing: def) is a
// header and aligned columns, "json" one JSON object per row, anything else a Go template per
// row. header is a row whose fields answer with their column titles.
func printRows[R any](out io.Writer, format, def string, header R, rows []R) error {
	if format == "" || format == "table" {
		format = def
	}
	if format == "json" {
		for _, r := range rows {
			b, err := json.Marshal(rowFields(r))
			if err != nil {
				return err
			}
			fmt.Fprintln(out, string(b))
		}
		return nil
	}
	// As docker: \t and \n typed literally in the format are a tab and a newline.
	format = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(format)
	table := strings.HasPrefix(format, "table")
	if table {
		format = strings.TrimLeft(strings.TrimPrefix(format, "table"), " ")
	}
	tmpl, err := template.New("").Funcs(templateFuncs).Parse(format)
	if err != nil {
		return statusError{status: 1, err: fmt.Errorf("template parsing error: %w", err)}
	}
	w := out
	var tw *tabwriter.Writer
	if table {
		tw = tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)
		w = tw
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, header); err != nil {
			return statusError{status: 1, err: fmt.Errorf("template: %w", err)}
		}
		fmt.Fprintln(w, buf.String())
	}
	for _, r := range rows {
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, r); err != nil {
			return statusError{status: 1, err: fmt.Errorf("template: %w", err)}
		}
		fmt.Fprintln(w, buf.String())
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}

// rowFields is a row as --format json shows it: every niladic string method.
func rowFields(r any) map[string]string {
	out := map[string]string{}
	v := reflect.ValueOf(r)
	t := v.Type()
	for i := 0; i < t.NumMethod(); i++ {
		m := t.Method(i)
		if m.Type.NumIn() == 1 && m.Type.NumOut() == 1 && m.Type.Out(0).Kind() == reflect.String {
			out[m.Name] = v.Method(i).Call(nil)[0].String()
		}
	}
	return out
}
