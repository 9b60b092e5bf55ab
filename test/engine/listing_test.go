package engine_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestListingWithBothClients runs ps and images with filters and formats through both clients:
// the same rows come back, in docker's shapes.
func TestListingWithBothClients(t *testing.T) {
	d := withBusybox(t)
	d.mustDocker("tag", "busybox", "other:1")
	if r := d.run(dockerCLI, "run", "--name", "three", "-l", "app=web", "busybox", "sh", "-c", "echo bye; exit 3"); r.code != 3 {
		t.Fatalf("run: exit %d %s", r.code, r.stderr)
	}
	d.mustDocker("create", "--name", "made", "-l", "app=db", "busybox")
	d.mustDocker("run", "-d", "--name", "up", "busybox", "sleep", "600")
	for _, prog := range []string{dockerCLI, berthBin()} {
		check := func(want string, args ...string) {
			t.Helper()
			r := d.run(prog, args...)
			if got := strings.TrimSpace(r.stdout); got != want || r.code != 0 {
				t.Errorf("%s %v: exit %d, got %q, want %q (%s)", prog, args, r.code, got, want, r.stderr)
			}
		}
		check("up", "ps", "--format", "{{.Names}}")
		check("up\nmade\nthree", "ps", "-a", "--format", "{{.Names}}", "--filter", "name=^(made|three|up)$")
		check("three exited", "ps", "-a", "--filter", "status=exited", "--format", "{{.Names}} {{.State}}")
		check("three", "ps", "-a", "--filter", "exited=3", "--format", "{{.Names}}")
		check("made", "ps", "-a", "--filter", "label=app=db", "--format", "{{.Names}}")
		check("NAMES     app\nthree     web", "ps", "-a", "--filter", "label=app=web", "--format", "table {{.Names}}\t{{.Label \"app\"}}")
		check("up", "ps", "-l", "--format", "{{.Names}}")
		check("up\nmade", "ps", "-n", "2", "--format", "{{.Names}}")
		check("made", "ps", "-a", "--filter", "before=up", "--filter", "since=three", "--format", "{{.Names}}")
		var row map[string]any
		if r := d.run(prog, "ps", "--format", "json"); json.Unmarshal([]byte(r.stdout), &row) != nil || row["Names"] != "up" || row["State"] != "running" {
			t.Errorf("%s ps --format json: %q", prog, r.stdout)
		}
		if r := d.run(prog, "ps", "-s", "--format", "{{.Size}}"); !strings.Contains(r.stdout, "(virtual ") {
			t.Errorf("%s ps -s: %q", prog, r.stdout)
		}
		if r := d.run(prog, "ps", "--filter", "bogus=1"); r.code == 0 || !strings.Contains(r.stderr, "invalid filter 'bogus'") {
			t.Errorf("%s ps with an unknown filter: exit %d %s", prog, r.code, r.stderr)
		}
		check("other:1", "images", "other", "--format", "{{.Repository}}:{{.Tag}}")
		check("busybox:latest", "images", "--filter", "reference=bus*", "--format", "{{.Repository}}:{{.Tag}}")
		check("", "images", "--filter", "dangling=true", "-q")
		check("bye", "logs", "--since", "10m", "three")
		check("", "logs", "--until", "2020-01-01T00:00:00Z", "three")
	}
	// Whole outputs, byte for byte, over containers that use every column: a long command, a
	// bind mount and named volumes (with a long name), labels, a published port, host network.
	bind := t.TempDir()
	d.mustDocker("create", "--name", "mounts", "-v", bind+":/b", "-v", "short:/s", "-v", "a-rather-long-volume-name:/l",
		"busybox", "sh", "-c", "echo a long command line, with spaces and ünïcode")
	d.mustDocker("run", "-d", "--name", "web", "-p", "127.0.0.1::80", "-l", "tier=front", "-l", "app=web", "busybox", "sleep", "600")
	d.mustDocker("run", "-d", "--name", "hostnet", "--network", "host", "busybox", "sleep", "600")
	for _, args := range [][]string{
		{"ps"}, {"ps", "-a"}, {"ps", "-a", "--no-trunc"}, {"ps", "-aq"}, {"ps", "-a", "-s"}, {"ps", "-n", "3", "-s", "--no-trunc"},
		{"ps", "-a", "--filter", "label=app", "--filter", "status=running"},
		{"ps", "-a", "--format", "table {{.ID}}\t{{.Names}}\t{{.Labels}}\t{{.Mounts}}\t{{.Networks}}\t{{.Ports}}\t{{.State}}\t{{.LocalVolumes}}\t{{.CreatedAt}}"},
		{"ps", "-a", "--no-trunc", "--format", "{{.Mounts}} {{.LocalVolumes}} {{.Command}} {{.Label \"app\"}}"},
		{"ps", "-a", "--format", "json"}, {"ps", "-a", "--format", "{{json .}}"}, {"ps", "-a", "-q", "--format", "{{.Names}}"},
	} {
		sameOutputs(t, d, args...)
	}
	d.mustDocker("rm", "-f", "up", "web", "hostnet", "mounts")
	d.mustDocker("volume", "rm", "short", "a-rather-long-volume-name")
}

// sameOutputs checks that berth prints what the docker CLI prints (stdout and stderr, byte for
// byte) against the same daemon. Times ("5 seconds ago") may tick between the two runs: berth
// runs before and after docker, and one of the two must match.
func sameOutputs(t *testing.T, d *daemon, args ...string) {
	t.Helper()
	both := func(prog string) string {
		r := d.run(prog, args...)
		return fmt.Sprintf("exit %d\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	before := both(berthBin())
	want := both(dockerCLI)
	if after := both(berthBin()); before != want && after != want {
		t.Errorf("berth %v differs from docker's:\n--- berth\n%s\n--- docker\n%s", args, after, want)
	}
}

// TestContainerPruneWithBothClients removes stopped containers, sparing running ones and those
// a label! filter protects, and asks first unless -f.
func TestContainerPruneWithBothClients(t *testing.T) {
	d := withBusybox(t)
	for _, prog := range clients() {
		d.mustDocker("create", "--name", "gone", "busybox")
		d.mustDocker("create", "--name", "kept", "-l", "keep=1", "busybox")
		d.mustDocker("run", "-d", "--name", "alive", "busybox", "sleep", "600")
		if r := d.runStdin(strings.NewReader("n\n"), prog, "container", "prune"); strings.Contains(r.stdout, "Deleted") || r.code != 0 || !strings.Contains(r.stdout, "Are you sure you want to continue? [y/N]") {
			t.Errorf("%s prune without -f, answered no: exit %d %q", prog, r.code, r.stdout)
		}
		r := d.run(prog, "container", "prune", "-f", "--filter", "label!=keep")
		if r.code != 0 || !strings.Contains(r.stdout, "Deleted Containers:") || !strings.Contains(r.stdout, "Total reclaimed space:") {
			t.Errorf("%s prune: exit %d %q %s", prog, r.code, r.stdout, r.stderr)
		}
		if got := d.mustDocker("ps", "-a", "--format", "{{.Names}}"); got != "alive\nkept" {
			t.Errorf("%s prune left %q", prog, got)
		}
		d.mustDocker("rm", "-f", "alive", "kept")
	}
}
