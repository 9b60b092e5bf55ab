package engine_test

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestSearchRegistryCatalog searches a registry's catalog with both CLIs (GET /images/search).
func TestSearchRegistryCatalog(t *testing.T) {
	reg := startRegistry(t, "")
	d := startDaemon(t)
	img := busyboxImage(t, "amd64")
	for _, repo := range []string{"tools/busybox", "tools/sh", "other/thing"} {
		pushTo(t, reg.host+"/"+repo+":1", img)
	}
	for _, cli := range clients() {
		t.Run(filepath.Base(cli), func(t *testing.T) {
			d.t = t
			out := d.must(cli, "search", reg.host+"/tools")
			lines := strings.Split(out, "\n")
			if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "NAME DESCRIPTION STARS OFFICIAL" ||
				strings.Join(strings.Fields(lines[1]), " ") != reg.host+"/tools/busybox 0" ||
				strings.Join(strings.Fields(lines[2]), " ") != reg.host+"/tools/sh 0" {
				t.Errorf("search:\n%s", out)
			}
			if got := d.must(cli, "search", "--limit", "1", "--format", "{{.Name}}", reg.host+"/tools"); got != reg.host+"/tools/busybox" {
				t.Errorf("search --limit 1: %q", got)
			}
			if got := d.must(cli, "search", "--no-trunc", "--format", "{{.Name}}:{{.StarCount}}", reg.host+"/"); got != reg.host+"/other/thing:0\n"+reg.host+"/tools/busybox:0\n"+reg.host+"/tools/sh:0" {
				t.Errorf("search of everything: %q", got)
			}
			if got := d.must(cli, "search", "--format", "json", reg.host+"/thing"); !strings.Contains(got, `"IsOfficial":"false"`) || !strings.Contains(got, `"Name":"`+reg.host+`/other/thing"`) {
				t.Errorf("search --format json: %s", got)
			}
			if got := d.must(cli, "search", "--filter", "stars=3", reg.host+"/tools"); strings.Count(got, "\n") != 0 {
				t.Errorf("search --filter stars=3: %q", got)
			}
			if r := d.run(cli, "search", "--limit", "101", reg.host+"/tools"); r.code != 1 || !strings.Contains(r.stderr, "limit 101 is outside the range of [1, 100]") {
				t.Errorf("search --limit 101: exit %d %s", r.code, r.stderr)
			}
		})
	}
}
