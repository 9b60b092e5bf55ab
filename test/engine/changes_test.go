package engine_test

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDiffAndExportWithBothClients(t *testing.T) {
	d := withBusybox(t)
	id := d.mustDocker("run", "-d", "busybox", "sh", "-c", "touch /tmp/new; rm /etc/group; mkdir /newdir; echo x >> /etc/passwd; touch /ready; sleep 60")
	waitFile(t, d, id, "/ready")
	want := "C /etc\nD /etc/group\nC /etc/passwd\nA /newdir\nA /ready\nC /tmp\nA /tmp/new"
	for _, running := range []bool{true, false} {
		if !running {
			d.mustDocker("stop", "-t", "0", id)
		}
		for _, cli := range clients() {
			if got := d.must(cli, "diff", id); got != want {
				t.Errorf("%s diff (running %v):\n%s\nwant\n%s", cli, running, got, want)
			}
			out := filepath.Join(t.TempDir(), "fs.tar")
			d.must(cli, "export", "-o", out, id)
			f, err := os.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			names := map[string]string{}
			tr := tar.NewReader(f)
			for {
				hdr, err := tr.Next()
				if err != nil {
					break
				}
				b, _ := io.ReadAll(tr)
				names[hdr.Name] = string(b)
			}
			f.Close()
			if _, ok := names["newdir/"]; !ok {
				t.Errorf("%s export: no newdir/ (%d entries)", cli, len(names))
			}
			if _, ok := names["etc/group"]; ok {
				t.Errorf("%s export: a deleted file is there", cli)
			}
			if !strings.HasSuffix(names["etc/passwd"], "x\n") || names["bin/busybox"] == "" {
				t.Errorf("%s export: passwd %q, busybox %d bytes", cli, names["etc/passwd"], len(names["bin/busybox"]))
			}
		}
	}
}
