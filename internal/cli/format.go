package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"text/template"
	tparse "text/template/parse"

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

// inspected is an object as the daemon described it: decoded, and the response's own JSON,
// which can hold more (the legacy fields the API still sends, such as NetworkSettings.IPAddress).
type inspected struct {
	typed any
	raw   json.RawMessage
}

// printInspect writes items (values, or inspected) as docker's inspect does: a JSON array
// indented by four spaces, or each item through a Go template.
func printInspect(out io.Writer, items []any, format string) error {
	if format == "" {
		list := make([]any, 0, len(items))
		for _, it := range items {
			if in, ok := it.(inspected); ok {
				it = in.typed
				if len(in.raw) > 0 {
					it = in.raw // as the daemon wrote it, in its order
				}
			}
			list = append(list, it)
		}
		b, err := json.MarshalIndent(list, "", "    ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(out, string(b))
		return err
	}
	tmpl, err := parseInspectTemplate(format)
	if err != nil {
		return statusError{status: 1, err: fmt.Errorf("template parsing error: %w", err)}
	}
	for _, it := range items {
		raw := []byte(nil)
		if in, ok := it.(inspected); ok {
			it, raw = in.typed, in.raw
		}
		// As docker: the typed value first (.ID), then the raw JSON (.Id) if that fails.
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, it); err != nil {
			buf.Reset()
			if raw == nil {
				if raw, err = json.Marshal(it); err != nil {
					return err
				}
			}
			var m any
			if merr := json.Unmarshal(raw, &m); merr != nil {
				return merr
			}
			if rerr := tmpl.Execute(&buf, m); rerr != nil {
				return statusError{status: 1, err: fmt.Errorf("template: %w", err)}
			}
		}
		fmt.Fprintln(out, buf.String())
	}
	return nil
}

// parseInspectTemplate parses an inspect --format whose printed values are shown as the docker
// CLI shows them. The API types berth uses hold addresses as netip values, whose zero prints as
// "invalid IP" where docker's (strings) print nothing: every action's value passes through
// addrText before it is printed.
func parseInspectTemplate(format string) (*template.Template, error) {
	tmpl, err := template.New("").Funcs(templateFuncs).Funcs(template.FuncMap{"berthAddrText": addrText}).Parse(format)
	if err != nil {
		return nil, err
	}
	var walk func(n tparse.Node)
	walk = func(n tparse.Node) {
		switch n := n.(type) {
		case *tparse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c)
				}
			}
		case *tparse.ActionNode:
			if len(n.Pipe.Decl) == 0 { // {{$x := ...}} prints nothing
				fn := tparse.NewIdentifier("berthAddrText").SetTree(tmpl.Tree).SetPos(n.Pos)
				n.Pipe.Cmds = append(n.Pipe.Cmds, &tparse.CommandNode{NodeType: tparse.NodeCommand, Pos: n.Pos, Args: []tparse.Node{fn}})
			}
		case *tparse.IfNode:
			walk(n.List)
			walk(n.ElseList)
		case *tparse.RangeNode:
			walk(n.List)
			walk(n.ElseList)
		case *tparse.WithNode:
			walk(n.List)
			walk(n.ElseList)
		}
	}
	walk(tmpl.Tree.Root)
	return tmpl, nil
}

// addrText is a zero address as docker's CLI prints one: nothing.
func addrText(v any) any {
	switch a := v.(type) {
	case netip.Addr:
		if !a.IsValid() {
			return ""
		}
	case netip.Prefix:
		if !a.IsValid() {
			return ""
		}
	}
	return v
}
