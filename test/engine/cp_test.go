package engine_test

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// waitFile waits until path exists in a running container.
func waitFile(t *testing.T, d *daemon, ctr, path string) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if d.run(dockerCLI, "exec", ctr, "test", "-e", path).code == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never appeared in %s", path, ctr)
}

const cpSetup = "mkdir -p /d/sub && echo a > /d/f && echo b > /d/sub/g && ln -s /d/f /d/link && touch /ready"

func TestCpBothWaysWithBothClients(t *testing.T) {
	d := withBusybox(t)
	removeVolumes(d)
	for _, cli := range clients() {
		name := "cp" + filepath.Base(cli)
		d.must(cli, "run", "-d", "--name", name, "-v", "cpvol"+filepath.Base(cli)+":/v", "busybox", "sh", "-c", cpSetup+"; sleep 60")
		waitFile(t, d, name, "/ready")
		host := t.TempDir()
		for _, state := range []string{"running", "stopped"} {
			out := filepath.Join(host, state)
			os.Mkdir(out, 0o755)
			// A directory to a new name, into an existing directory, its content with /., one file.
			d.must(cli, "cp", name+":/d", filepath.Join(out, "new"))
			d.must(cli, "cp", name+":/d", out)
			os.Mkdir(filepath.Join(out, "content"), 0o755)
			d.must(cli, "cp", name+":/d/.", filepath.Join(out, "content"))
			d.must(cli, "cp", name+":/d/sub/g", filepath.Join(out, "g"))
			d.must(cli, "cp", "-L", name+":/d/link", filepath.Join(out, "followed"))
			d.must(cli, "cp", name+":/d/link", filepath.Join(out, "link"))
			for file, want := range map[string]string{"new/f": "a\n", "new/sub/g": "b\n", "d/f": "a\n", "d/sub/g": "b\n",
				"content/f": "a\n", "content/sub/g": "b\n", "g": "b\n", "followed": "a\n"} {
				if b, err := os.ReadFile(filepath.Join(out, file)); err != nil || string(b) != want {
					t.Errorf("%s %s: %s: %q %v", cli, state, file, b, err)
				}
			}
			if l, err := os.Readlink(filepath.Join(out, "link")); err != nil || l != "/d/f" {
				t.Errorf("%s %s: symlink copied as %q %v", cli, state, l, err)
			}
			// Host to container: a file, a directory, a tar on stdin, into a volume.
			os.WriteFile(filepath.Join(out, "in.txt"), []byte(state+"\n"), 0o600)
			d.must(cli, "cp", filepath.Join(out, "in.txt"), name+":/tmp/in-"+state)
			d.must(cli, "cp", filepath.Join(out, "content"), name+":/tmp/dir-"+state)
			d.must(cli, "cp", filepath.Join(out, "in.txt"), name+":/v/")
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			tw.WriteHeader(&tar.Header{Name: "fromtar-" + state, Mode: 0o644, Size: 3, Uid: 1000})
			tw.Write([]byte("tar"))
			tw.Close()
			if r := d.runStdin(&buf, cli, "cp", "-", name+":/tmp"); r.code != 0 {
				t.Errorf("%s cp - : %d %s", cli, r.code, r.stderr)
			}
			// And a tar to stdout.
			r := d.run(cli, "cp", name+":/d/f", "-")
			tr := tar.NewReader(strings.NewReader(r.stdout))
			if hdr, err := tr.Next(); err != nil || hdr.Name != "f" {
				t.Errorf("%s %s: cp to -: %v %v", cli, state, hdr, err)
			}
			if state == "running" {
				got := d.must(cli, "exec", name, "sh", "-c", "cat /tmp/in-running /tmp/dir-running/f /tmp/fromtar-running /v/in.txt; stat -c %u /tmp/in-running /tmp/fromtar-running")
				if got != "running\na\ntarrunning\n0\n0" {
					t.Errorf("%s: copied in: %q", cli, got)
				}
				d.must(cli, "stop", "-t", "0", name)
			}
		}
		// What was copied into the stopped container is there when it runs again.
		got := d.must(cli, "run", "--rm", "--volumes-from", name, "busybox", "cat", "/v/in.txt")
		if got != "stopped" {
			t.Errorf("%s: volume written while stopped: %q", cli, got)
		}
		d.must(cli, "start", name)
		if got := d.must(cli, "exec", name, "cat", "/tmp/in-stopped", "/tmp/dir-stopped/sub/g", "/tmp/fromtar-stopped"); got != "stopped\nb\ntar" {
			t.Errorf("%s: copied into the stopped container: %q", cli, got)
		}
		// Errors as docker words them.
		if r := d.run(cli, "cp", name+":/nope", host); r.code != 1 || !strings.Contains(r.stderr, "Could not find the file /nope in container "+name) {
			t.Errorf("%s cp missing: %d %q", cli, r.code, r.stderr)
		}
		d.must(cli, "rm", "-f", name)
	}
}

// secretDir makes a host directory with a file the containers must never reach.
func secretDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "berth-cp-secret-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.WriteFile(filepath.Join(dir, "secret"), []byte("host secret\n"), 0o600)
	return dir
}

func TestCpSymlinksStayInTheContainer(t *testing.T) {
	d := withBusybox(t)
	secret := secretDir(t)
	// Links out of the container, absolute and climbing.
	setup := "ln -s " + secret + " /abs; ln -s ../../../../../../.." + secret + " /up; ln -s / /root-link; mkdir -p " + secret + "; echo container > " + secret + "/secret; touch /ready"
	d.mustDocker("run", "-d", "--name", "evil", "busybox", "sh", "-c", setup+"; sleep 60")
	waitFile(t, d, "evil", "/ready")
	for _, running := range []bool{true, false} {
		if !running {
			d.mustDocker("stop", "-t", "0", "evil")
		}
		for _, cli := range clients() {
			out := t.TempDir()
			for i, src := range []string{"/abs/secret", "/up/secret", "/root-link" + secret + "/secret"} {
				dst := filepath.Join(out, "got"+string(rune('0'+i)))
				d.must(cli, "cp", "-L", "evil:"+src, dst)
				if b, _ := os.ReadFile(dst); string(b) != "container\n" {
					t.Errorf("%s (running %v) cp %s: read %q", cli, running, src, b)
				}
			}
			// Writing through the links lands inside the container, never on the host.
			os.WriteFile(filepath.Join(out, "pwn"), []byte("pwned\n"), 0o644)
			for _, dst := range []string{"/abs/", "/up/", "/root-link" + secret + "/"} {
				d.run(cli, "cp", filepath.Join(out, "pwn"), "evil:"+dst)
			}
			if _, err := os.Stat(filepath.Join(secret, "pwn")); err == nil {
				t.Fatalf("%s: cp wrote through a container symlink onto the host", cli)
			}
		}
	}
	if b, _ := os.ReadFile(filepath.Join(secret, "secret")); string(b) != "host secret\n" {
		t.Errorf("host file changed: %q", b)
	}
}

func TestCpTarEntriesConfined(t *testing.T) {
	d := withBusybox(t)
	secret := secretDir(t)
	d.mustDocker("create", "--name", "target", "busybox", "true")
	entries := []*tar.Header{
		{Name: "../../../../../../.." + secret + "/dotdot", Typeflag: tar.TypeReg},
		{Name: secret + "/absolute", Typeflag: tar.TypeReg},
		{Name: "out", Typeflag: tar.TypeSymlink, Linkname: secret},
		{Name: "out/through-link", Typeflag: tar.TypeReg},
		{Name: "hard", Typeflag: tar.TypeLink, Linkname: "../../../../.." + secret + "/secret"},
	}
	for _, cli := range clients() {
		for _, h := range entries {
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			if h.Name == "out/through-link" {
				tw.WriteHeader(&tar.Header{Name: "out", Typeflag: tar.TypeSymlink, Linkname: secret, Mode: 0o777})
			}
			h.Mode = 0o644
			tw.WriteHeader(h)
			tw.Close()
			d.runStdin(&buf, cli, "cp", "-", "target:/tmp")
		}
		for _, name := range []string{"dotdot", "absolute", "through-link", "hard"} {
			if _, err := os.Lstat(filepath.Join(secret, name)); err == nil {
				t.Errorf("%s: tar entry %s written on the host", cli, name)
			}
		}
	}
	// The absolute name landed inside the container, below the destination.
	out := t.TempDir()
	d.mustDocker("cp", "target:/tmp"+secret+"/absolute", out)
	if entries, _ := os.ReadDir(secret); len(entries) != 1 {
		t.Errorf("host directory holds %d entries", len(entries))
	}
}

// A running container is copied from as it sees itself: its tmpfs mounts included.
func TestCpRunningContainerView(t *testing.T) {
	d := withBusybox(t)
	id := d.mustDocker("run", "-d", "--tmpfs", "/tt", "busybox", "sh", "-c", "echo intmpfs > /tt/f; touch /ready; sleep 60")
	waitFile(t, d, id, "/ready")
	for _, cli := range clients() {
		out := filepath.Join(t.TempDir(), "f")
		d.must(cli, "cp", id+":/tt/f", out)
		if b, _ := os.ReadFile(out); string(b) != "intmpfs\n" {
			t.Errorf("%s: tmpfs file read as %q", cli, b)
		}
	}
}

// A stopped container is copied to and from as it would see itself: a symlink into a volume or a
// bind mount leads into that volume or bind (as in Docker, which mounts them for the copy); a
// symlink in a volume resolves in the container's root, and none leads out of it.
func TestCpStoppedContainerSymlinksIntoMounts(t *testing.T) {
	d := withBusybox(t)
	removeVolumes(d)
	secret := secretDir(t)
	bind := t.TempDir()
	setup := "echo invol > /data/v; ln -s /data /lnk; ln -s ../bind /blnk; ln -s /etc /data/toetc; " +
		"ln -s ../../../../../.." + secret + " /data/up; ln -s " + secret + " /bind/abs"
	d.mustDocker("run", "--name", "stopped", "-v", "symvol:/data", "-v", bind+":/bind", "busybox", "sh", "-c", setup)
	host := t.TempDir()
	for _, cli := range clients() {
		name := filepath.Base(cli)
		src := filepath.Join(host, name)
		os.WriteFile(src, []byte(name+"\n"), 0o644)
		// Into the volume and the bind through a link in the root filesystem.
		d.must(cli, "cp", src, "stopped:/lnk/")
		d.must(cli, "cp", src, "stopped:/blnk/")
		// Through a link in the volume to the container's own /etc.
		d.must(cli, "cp", src, "stopped:/data/toetc/")
		// Through links out of the root: they resolve inside it, never on the host.
		for _, dst := range []string{"stopped:/data/up/", "stopped:/blnk/abs/"} {
			d.run(cli, "cp", src, dst)
		}
		got := filepath.Join(host, "got-"+name)
		d.must(cli, "cp", "stopped:/lnk/v", got)
		if b, _ := os.ReadFile(got); string(b) != "invol\n" {
			t.Errorf("%s: /lnk/v read as %q, want the volume's file", cli, b)
		}
		if r := d.run(cli, "cp", "stopped:/blnk/abs/secret", host); r.code == 0 {
			t.Errorf("%s: read the host's secret through a link in a bind mount", cli)
		}
	}
	if got := d.mustDocker("run", "--rm", "-v", "symvol:/v", "busybox", "sh", "-c", "cat /v/docker /v/berth; ls /v"); got != "docker\nberth\nberth\ndocker\ntoetc\nup\nv" {
		t.Errorf("volume after cp through /lnk: %q", got)
	}
	for _, name := range []string{"docker", "berth"} {
		if b, err := os.ReadFile(filepath.Join(bind, name)); err != nil || string(b) != name+"\n" {
			t.Errorf("bind after cp through /blnk: %s: %q %v", name, b, err)
		}
	}
	out := filepath.Join(host, "etc")
	d.mustDocker("cp", "stopped:/etc/docker", out)
	if b, _ := os.ReadFile(out); string(b) != "docker\n" {
		t.Errorf("cp through /data/toetc did not reach the container's /etc: %q", b)
	}
	if ents, _ := os.ReadDir(secret); len(ents) != 1 {
		t.Errorf("the host directory behind the links holds %d entries", len(ents))
	}
	// Nothing of the copies' temporary mounts is left.
	for _, p := range mountsUnder(filepath.Join(d.dir, "exec")) {
		if strings.Contains(p, "/fs-") {
			t.Errorf("temporary mount left: %s", p)
		}
	}
}
