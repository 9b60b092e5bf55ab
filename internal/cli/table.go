package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strings"
	"text/tabwriter"
	"text/template"
)

// printRows writes list output as docker's --format does: "table ..." (or nothing: def) is a
// header and aligned columns, "json" one JSON object per row, anything else a Go template per
// row. header is a row whose fields answer with their column titles.
func printRows[R any](out io.Writer, format, def string, header R, rows []R) error {
	// The table writer writes each cell and each run of padding on its own: unbuffered, a
	// thousand rows are fourteen thousand write calls.
	bw := bufio.NewWriterSize(out, 64<<10)
	if err := printRowsTo(bw, format, def, header, rows); err != nil {
		bw.Flush()
		return err
	}
	return bw.Flush()
}

func printRowsTo[R any](out io.Writer, format, def string, header R, rows []R) error {
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
	// A format of plain {{.Field}}s (the default tables are) is filled without the template
	// engine: on a thousand rows its reflection is most of the command's time.
	execute := func(w io.Writer, r R) error { return tmpl.Execute(w, r) }
	if parts, ok := plainFields[R](format); ok {
		execute = func(w io.Writer, r R) error { return fillFields(w, parts, r) }
	}
	w := out
	var tw *tabwriter.Writer
	if table {
		tw = tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)
		w = tw
		var buf bytes.Buffer
		if err := execute(&buf, header); err != nil {
			return statusError{status: 1, err: fmt.Errorf("template: %w", err)}
		}
		fmt.Fprintln(w, buf.String())
	}
	var buf bytes.Buffer
	for _, r := range rows {
		buf.Reset()
		if err := execute(&buf, r); err != nil {
			return statusError{status: 1, err: fmt.Errorf("template: %w", err)}
		}
		buf.WriteByte('\n')
		w.Write(buf.Bytes())
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}

// rowFields is a row as --format json shows it: every niladic method giving a string or a
// pointer (null when nil).
func rowFields(r any) map[string]any {
	out := map[string]any{}
	v := reflect.ValueOf(r)
	t := v.Type()
	for i := 0; i < t.NumMethod(); i++ {
		m := t.Method(i)
		if m.Type.NumIn() != 1 || m.Type.NumOut() != 1 {
			continue
		}
		switch m.Type.Out(0).Kind() {
		case reflect.String, reflect.Pointer:
			out[m.Name] = v.Method(i).Call(nil)[0].Interface()
		}
	}
	return out
}

// formatPart is literal text, or (field != nil) the row method a {{.Field}} names.
type formatPart[R any] struct {
	text  string
	field func(R) string
}

var plainField = regexp.MustCompile(`\{\{\s*\.([A-Za-z][A-Za-z0-9]*)\s*\}\}`)

// plainFields splits a format made only of text and {{.Field}}s naming niladic string methods
// of row; anything else (functions, arguments, pipelines, unknown fields) is for the template
// engine, which also words the errors.
func plainFields[R any](format string) ([]formatPart[R], bool) {
	row := reflect.TypeFor[R]()
	var parts []formatPart[R]
	rest := format
	for {
		loc := plainField.FindStringSubmatchIndex(rest)
		if loc == nil {
			break
		}
		m, ok := row.MethodByName(rest[loc[2]:loc[3]])
		if !ok {
			return nil, false
		}
		field, ok := m.Func.Interface().(func(R) string) // resolved once, called directly per row
		if !ok {
			return nil, false
		}
		parts = append(parts, formatPart[R]{text: rest[:loc[0]]}, formatPart[R]{field: field})
		rest = rest[loc[1]:]
	}
	parts = append(parts, formatPart[R]{text: rest})
	for _, p := range parts {
		if strings.Contains(p.text, "{{") || strings.Contains(p.text, "}}") {
			return nil, false
		}
	}
	return parts, true
}

func fillFields[R any](w io.Writer, parts []formatPart[R], row R) error {
	for _, p := range parts {
		if p.field == nil {
			io.WriteString(w, p.text)
			continue
		}
		io.WriteString(w, p.field(row))
	}
	return nil
}

// listRow is what every row type of a list command embeds: the header row answers each field
// with its column title.
type listRow struct{ header bool }

func (r listRow) pick(title, value string) string {
	if r.header {
		return title
	}
	return value
}

// shortID is an ID as list tables show it: its first 12 characters, unless --no-trunc.
func shortID(id string, trunc bool) string {
	if trunc && len(id) > 12 {
		return id[:12]
	}
	return id
}
