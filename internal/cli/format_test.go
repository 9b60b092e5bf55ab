package cli

import (
	"bytes"
	"net/netip"
	"testing"
)

func TestInspectTemplatePrintsZeroAddressesAsDockerDoes(t *testing.T) {
	type ep struct {
		IPAddress netip.Addr
		Gateway   netip.Addr
		Subnet    netip.Prefix
		Name      string
		Ports     []int
	}
	item := ep{Gateway: netip.MustParseAddr("10.0.0.1"), Name: "n", Ports: []int{1, 2}}
	for format, want := range map[string]string{
		"{{.IPAddress}}|{{.Gateway}}|{{.Subnet}}":             "|10.0.0.1|",
		"{{json .IPAddress}} {{.Name}}":                       `"" n`,
		"{{if .Name}}{{.IPAddress}}x{{end}}":                  "x",
		"{{range .Ports}}{{.}},{{end}}":                       "1,2,",
		"{{with .Gateway}}{{.}}{{end}} {{$a := .Name}}{{$a}}": "10.0.0.1 n",
		"{{.Name | upper}}":                                   "N",
	} {
		var out bytes.Buffer
		if err := printInspect(&out, []any{item}, format); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if got := out.String(); got != want+"\n" {
			t.Errorf("%s: got %q, want %q", format, got, want)
		}
	}
}
