package engine_test

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// busyboxTar makes a busybox root filesystem tar (contrib/mkrootfs-busybox.sh) in dir.
func busyboxTar(t *testing.T) (path, diffID string) {
	t.Helper()
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	_, file, _, _ := runtimeCaller()
	script := filepath.Join(filepath.Dir(file), "..", "..", "contrib", "mkrootfs-busybox.sh")
	if out, err := exec.Command(script, rootfs).CombinedOutput(); err != nil {
		t.Fatalf("mkrootfs: %v\n%s", err, out)
	}
	path = filepath.Join(dir, "busybox.tar")
	if out, err := exec.Command("tar", "-C", rootfs, "-cf", path, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, fmt.Sprintf("sha256:%x", sha256.Sum256(b))
}

// runIn runs a client with stdin from a file.
func (d *daemon) runIn(stdin, prog string, args ...string) result {
	d.t.Helper()
	f, err := os.Open(stdin)
	if err != nil {
		d.t.Fatal(err)
	}
	defer f.Close()
	return d.runStdin(f, prog, args...)
}

func (d *daemon) mustDocker(args ...string) string {
	d.t.Helper()
	r := d.run(dockerCLI, args...)
	if r.code != 0 {
		d.t.Fatalf("docker %v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
	}
	return strings.TrimSpace(r.stdout)
}

func TestImportTagInspectRemove(t *testing.T) {
	d := startDaemon(t)
	tarPath, diffID := busyboxTar(t)
	r := d.runIn(tarPath, dockerCLI, "import", "-c", `CMD ["sh"]`, "-c", "ENV FOO=bar", "-c", "EXPOSE 80", "-m", "from a test", "-", "busybox:latest")
	if r.code != 0 || !strings.HasPrefix(strings.TrimSpace(r.stdout), "sha256:") {
		t.Fatalf("docker import: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	id := strings.TrimSpace(r.stdout)
	if got := d.mustDocker("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"); got != "busybox:latest "+id[7:19] {
		t.Errorf("images: %q", got)
	}
	got := d.mustDocker("image", "inspect", "busybox", "-f", "{{.ID}}|{{json .Config.Cmd}}|{{.Config.Env}}|{{.RootFS.Layers}}|{{.Comment}}|{{.Os}}")
	want := fmt.Sprintf(`%s|["sh"]|[FOO=bar]|[%s]|from a test|linux`, id, diffID)
	if got != want {
		t.Errorf("inspect:\n got %s\nwant %s", got, want)
	}

	// Two tags, one image ID.
	d.mustDocker("tag", "busybox", "example.test/team/box:v1")
	if got := d.mustDocker("image", "inspect", "example.test/team/box:v1", "-f", "{{.ID}}"); got != id {
		t.Errorf("second tag resolves to %s", got)
	}
	// By ID with two tags: refused without -f, as Docker does.
	if r := d.run(dockerCLI, "rmi", id[7:19]); r.code == 0 || !strings.Contains(r.stderr, "must be forced") {
		t.Errorf("rmi by id with two tags: exit %d %s", r.code, r.stderr)
	}
	if got := d.mustDocker("rmi", "example.test/team/box:v1"); got != "Untagged: example.test/team/box:v1" {
		t.Errorf("rmi of one tag: %q", got)
	}
	if got := d.mustDocker("rmi", "busybox"); got != "Untagged: busybox:latest\nDeleted: "+id {
		t.Errorf("rmi of the last tag: %q", got)
	}
	if r := d.run(dockerCLI, "image", "inspect", "busybox"); r.code == 0 || !strings.Contains(r.stderr, "No such image") {
		t.Errorf("inspect after rmi: exit %d %s", r.code, r.stderr)
	}
	// Nothing but the empty stores is left in the data root.
	var files []string
	filepath.Walk(d.dataRoot, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && !strings.HasSuffix(p, ".db") && filepath.Base(p) != "engine-id" {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 0 {
		t.Errorf("left in the data root after removing the image: %v", files)
	}
}

func TestImportBadInput(t *testing.T) {
	d := startDaemon(t)
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk")
	os.WriteFile(junk, bytes.Repeat([]byte("not a tar "), 200), 0o644)
	if r := d.runIn(junk, dockerCLI, "import", "-", "junk:1"); r.code == 0 {
		t.Errorf("import of junk succeeded: %s", r.stdout)
	}

	// A layer whose entry climbs out of the root is refused, and nothing lands outside.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	body := []byte("pwned")
	tw.WriteHeader(&tar.Header{Name: "../../../../../../tmp/berth-escape-" + filepath.Base(dir), Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
	tw.Write(body)
	tw.Close()
	evil := filepath.Join(dir, "evil.tar")
	os.WriteFile(evil, buf.Bytes(), 0o644)
	r := d.runIn(evil, dockerCLI, "import", "-", "evil:1")
	if r.code == 0 || !strings.Contains(r.stderr, "escapes") {
		t.Errorf("import of an escaping tar: exit %d %s", r.code, r.stderr)
	}
	if _, err := os.Stat("/tmp/berth-escape-" + filepath.Base(dir)); err == nil {
		os.Remove("/tmp/berth-escape-" + filepath.Base(dir))
		t.Fatal("the escaping entry was written outside the image")
	}

	tarPath, _ := busyboxTar(t)
	if r := d.runIn(tarPath, dockerCLI, "import", "-c", "FROB x", "-", "x:1"); r.code == 0 || !strings.Contains(r.stderr, "FROB is not a valid change command") {
		t.Errorf("bad change: exit %d %s", r.code, r.stderr)
	}
	if r := d.runIn(tarPath, dockerCLI, "import", "-", "Bad/Name"); r.code == 0 || !strings.Contains(r.stderr, "invalid reference format") {
		t.Errorf("bad reference: exit %d %s", r.code, r.stderr)
	}
	// The daemon is still serving, with no image made by the failures.
	if got := d.mustDocker("images", "-q"); got != "" {
		t.Errorf("failed imports left images: %q", got)
	}
}

// TestBerthCLIMatchesDocker drives the same image scenario with bin/berth and checks that its
// output is the docker CLI's, byte for byte where docker's is deterministic.
func TestBerthCLIMatchesDocker(t *testing.T) {
	d := startDaemon(t)
	tarPath, _ := busyboxTar(t)
	r := d.runIn(tarPath, berthBin(), "import", "-c", `CMD ["sh"]`, "-", "busybox")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "sha256:") {
		t.Fatalf("berth import: exit %d %s%s", r.code, r.stdout, r.stderr)
	}
	if r := d.run(berthBin(), "tag", "busybox", "other/box:2"); r.code != 0 {
		t.Fatalf("berth tag: %s", r.stderr)
	}
	// The CREATED column depends on when each client ran: compare it as "<when> ago".
	when := regexp.MustCompile(`(Less than a second|About a minute|an? \w+|\d+ \w+) ago`)
	same := func(args ...string) {
		t.Helper()
		b, dk := d.run(berthBin(), args...), d.run(dockerCLI, args...)
		// Rows of one image with several tags have equal sort keys: the docker CLI's order among
		// them varies from run to run, so compare the rows as a set.
		norm := func(s string) string {
			lines := strings.Split(strings.TrimSpace(when.ReplaceAllString(s, "WHEN")), "\n")
			for i, l := range lines {
				lines[i] = strings.Join(strings.Fields(l), " ")
			}
			sort.Strings(lines)
			return strings.Join(lines, "\n")
		}
		if norm(b.stdout) != norm(dk.stdout) || b.code != dk.code {
			t.Errorf("%v differs:\nberth (exit %d):\n%s%s\ndocker (exit %d):\n%s%s", args, b.code, b.stdout, b.stderr, dk.code, dk.stdout, dk.stderr)
		}
	}
	same("images")
	same("images", "-q")
	same("images", "--no-trunc")
	same("image", "inspect", "busybox")
	same("image", "inspect", "-f", "{{.ID}} {{json .Config.Cmd}} {{join .RepoTags \",\"}}", "busybox")
	same("image", "inspect", "no-such-image")
	id := strings.Fields(d.mustDocker("images", "-q", "--no-trunc"))[0]
	if r := d.run(berthBin(), "rmi", "other/box:2", "busybox"); r.code != 0 || r.stdout != "Untagged: other/box:2\nUntagged: busybox:latest\nDeleted: "+id+"\n" {
		t.Errorf("berth rmi: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := d.run(berthBin(), "rmi", "busybox"); r.code != 1 || !strings.Contains(r.stderr, "No such image: busybox") {
		t.Errorf("berth rmi of a missing image: exit %d %s", r.code, r.stderr)
	}
}
