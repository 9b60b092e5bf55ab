package cli

import (
	"bytes"
	"strings"
	"testing"
)

// The table a run looks its command up in names each command as the command names itself.
func TestTopCommandsAreNamedAsTheyBuild(t *testing.T) {
	e := &env{}
	seen := map[string]bool{}
	for _, c := range topCommands {
		if got := c.build(e).Name(); got != c.name {
			t.Errorf("topCommands entry %q builds command %q", c.name, got)
		}
		if seen[c.name] {
			t.Errorf("%q listed twice", c.name)
		}
		seen[c.name] = true
	}
}

func TestTopCommandIsFoundPastRootFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ps", "-a"}, "ps"},
		{[]string{"-H", "unix:///x.sock", "ps"}, "ps"},
		{[]string{"--host", "ps", "images"}, "images"},
		{[]string{"--host=unix:///x.sock", "run", "--rm", "busybox"}, "run"},
		{[]string{"--help"}, ""},
		{[]string{"--version"}, "(none)"},
		{[]string{"-H", "unix:///x.sock"}, ""},
		{[]string{"help", "ps"}, ""},
		{[]string{"pss"}, ""},
		{[]string{"--", "ps"}, ""},
		{nil, ""},
	} {
		got := ""
		if build := topCommand(tc.args); build != nil {
			if cmd := build(&env{}); cmd != nil {
				got = cmd.Name()
			} else {
				got = "(none)"
			}
		}
		if got != tc.want {
			t.Errorf("topCommand(%q) builds %q, want %q", tc.args, got, tc.want)
		}
	}
}

// Help and a mistyped command still see every command.
func TestHelpAndSuggestionsSeeEveryCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	if rc := Main([]string{"--help"}, nil, &out, &errOut); rc != 0 {
		t.Fatalf("--help: exit %d: %s", rc, errOut.String())
	}
	for _, c := range topCommands {
		if !strings.Contains(out.String(), "\n  "+c.name+" ") {
			t.Errorf("--help does not list %q", c.name)
		}
	}
	out.Reset()
	errOut.Reset()
	if rc := Main([]string{"imagess"}, nil, &out, &errOut); rc != 125 || !strings.Contains(errOut.String(), "images") {
		t.Errorf("a mistyped command: exit %d, %q", rc, errOut.String())
	}
}

func TestVersionFlagAsDockers(t *testing.T) {
	var out bytes.Buffer
	if rc := Main([]string{"--version"}, nil, &out, &out); rc != 0 || !strings.HasPrefix(out.String(), "berth version ") || !strings.Contains(out.String(), ", build ") {
		t.Errorf("--version: exit %d, %q", rc, out.String())
	}
}
