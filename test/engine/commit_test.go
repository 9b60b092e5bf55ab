package engine_test

import (
	"fmt"
	"strings"
	"testing"
)

func TestCommitWithBothClients(t *testing.T) {
	d := withBusybox(t)
	for i, cli := range clients() {
		c := fmt.Sprintf("commit%d", i)
		d.must(cli, "run", "--name", c, "-e", "FROM_RUN=1", "busybox", "sh", "-c", "echo hi > /hello; rm /etc/group; mkdir -p /d/x")
		ref := fmt.Sprintf("committed%d:v1", i)
		id := d.must(cli, "commit", "-c", `CMD ["cat", "/hello"]`, "-c", "ENV FROM_COMMIT=2", "-m", "a message", "-a", "me", c, ref)
		if !strings.HasPrefix(id, "sha256:") {
			t.Fatalf("%s commit: %q", cli, id)
		}
		if got := d.must(cli, "run", "--rm", ref); got != "hi" {
			t.Errorf("%s: committed image runs %q", cli, got)
		}
		if r := d.run(cli, "run", "--rm", ref, "test", "-e", "/etc/group"); r.code != 1 {
			t.Errorf("%s: a deleted file came back in the committed image (exit %d)", cli, r.code)
		}
		got := d.must(cli, "image", "inspect", "-f", "{{len .RootFS.Layers}} {{.Author}} {{.Comment}} {{json .Config.Cmd}} {{.Config.Env}}", ref)
		if got != `2 me a message ["cat","/hello"] [FROM_RUN=1 FROM_COMMIT=2]` {
			t.Errorf("%s: committed image: %q", cli, got)
		}
		if got := d.must(cli, "inspect", "-f", "{{.Id}}", ref); "sha256:"+strings.TrimPrefix(got, "sha256:") != id {
			t.Errorf("%s: inspect id %q vs %q", cli, got, id)
		}
		// A commit of a running container (paused meanwhile) on top of the first: three layers.
		run := d.must(cli, "run", "-d", ref, "sh", "-c", "echo more > /more; touch /ready; sleep 60")
		waitFile(t, d, run, "/ready")
		id2 := d.must(cli, "commit", run)
		if got := d.must(cli, "inspect", "-f", "{{.State.Status}}", run); got != "running" {
			t.Errorf("%s: after commit the container is %s", cli, got)
		}
		if got := d.must(cli, "run", "--rm", id2, "cat", "/hello", "/more"); got != "hi\nmore" {
			t.Errorf("%s: second commit: %q", cli, got)
		}
		if got := d.must(cli, "image", "inspect", "-f", "{{len .RootFS.Layers}}", id2); got != "3" {
			t.Errorf("%s: second commit has %s layers", cli, got)
		}
		d.must(cli, "rm", "-f", run)
	}
}
