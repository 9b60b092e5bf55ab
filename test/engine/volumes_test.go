package engine_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// removeVolumes removes every volume through the daemon when the test ends (after its
// containers: cleanups run last-registered first).
func removeVolumes(d *daemon) {
	d.t.Cleanup(func() {
		for _, id := range strings.Fields(d.run(dockerCLI, "ps", "-aq").stdout) {
			d.run(dockerCLI, "rm", "-f", id)
		}
		for _, v := range strings.Fields(d.run(dockerCLI, "volume", "ls", "-q").stdout) {
			d.run(dockerCLI, "volume", "rm", "-f", v)
		}
	})
}

func TestVolumeCommandsWithBothClients(t *testing.T) {
	d := withBusybox(t)
	removeVolumes(d)
	for i, cli := range clients() {
		name := fmt.Sprintf("vol%d", i)
		if got := d.must(cli, "volume", "create", "--label", "k=v", name); got != name {
			t.Errorf("%s volume create: %q", cli, got)
		}
		// Creating it again is not an error, as in Docker.
		d.must(cli, "volume", "create", name)
		if got := d.must(cli, "volume", "ls", "-q", "--filter", "name="+name); got != name {
			t.Errorf("%s volume ls -q: %q", cli, got)
		}
		if got := d.must(cli, "volume", "ls", "--filter", "label=k=v", "--filter", "name="+name); got != "DRIVER    VOLUME NAME\nlocal     "+name {
			t.Errorf("%s volume ls:\n%s", cli, got)
		}
		got := d.must(cli, "volume", "inspect", "-f", "{{.Name}} {{.Driver}} {{.Scope}} {{.Labels}} {{.Mountpoint}}", name)
		want := fmt.Sprintf("%s local local map[k:v] %s", name, filepath.Join(d.dataRoot, "volumes", name, "_data"))
		if got != want {
			t.Errorf("%s volume inspect: %q, want %q", cli, got, want)
		}
		d.must(cli, "run", "--name", "writer"+name, "-v", name+":/data", "busybox", "sh", "-c", "echo kept > /data/f")
		if got := d.must(cli, "run", "--rm", "-v", name+":/data:ro", "busybox", "cat", "/data/f"); got != "kept" {
			t.Errorf("%s: named volume content: %q", cli, got)
		}
		// In use by the stopped writer: refused, -f too.
		for _, args := range [][]string{{"volume", "rm", name}, {"volume", "rm", "-f", name}} {
			r := d.run(cli, args...)
			if r.code != 1 || !strings.Contains(r.stderr, "volume is in use - [") {
				t.Errorf("%s %v: exit %d %q", cli, args, r.code, r.stderr)
			}
		}
		if got := d.must(cli, "volume", "ls", "-q", "--filter", "dangling=true"); strings.Contains(got, name) {
			t.Errorf("%s: a volume in use listed as dangling: %q", cli, got)
		}
		// rm -v never removes a named volume.
		d.must(cli, "rm", "-v", "writer"+name)
		if got := d.must(cli, "volume", "ls", "-q", "--filter", "dangling=true"); got != name {
			t.Errorf("%s: dangling after rm: %q", cli, got)
		}
		if got := d.must(cli, "volume", "rm", name); got != name {
			t.Errorf("%s volume rm: %q", cli, got)
		}
		if r := d.run(cli, "volume", "inspect", name); r.code != 1 || !strings.Contains(r.stderr, "no such volume") {
			t.Errorf("%s volume inspect after rm: exit %d %q", cli, r.code, r.stderr)
		}
		if _, err := os.Stat(filepath.Join(d.dataRoot, "volumes", name)); !os.IsNotExist(err) {
			t.Errorf("%s: volume directory left behind: %v", cli, err)
		}
	}
}

func TestVolumeNamesOutsideTheStoreRefused(t *testing.T) {
	d := withBusybox(t)
	removeVolumes(d)
	for _, name := range []string{"../escape", "a/b", "..", "x"} {
		for _, cli := range clients() {
			if r := d.run(cli, "volume", "create", name); r.code == 0 {
				t.Errorf("%s volume create %q accepted", cli, name)
			}
		}
	}
	for _, spec := range []string{"a/b:/data", "../../x:/data"} {
		r := d.run(dockerCLI, "create", "--mount", "type=volume,source="+strings.Split(spec, ":")[0]+",target=/data", "busybox")
		if r.code == 0 {
			t.Errorf("--mount source %q accepted", spec)
		}
	}
	if got := d.must(dockerCLI, "volume", "ls", "-q"); got != "" {
		t.Errorf("volumes made: %q", got)
	}
	entries, _ := os.ReadDir(filepath.Dir(filepath.Join(d.dataRoot, "volumes")))
	for _, e := range entries {
		if e.Name() == "escape" || e.Name() == "x" {
			t.Errorf("made %s outside the volume store", e.Name())
		}
	}
}

func TestVolumeAnonymousRemovedByRmV(t *testing.T) {
	d := withBusybox(t)
	removeVolumes(d)
	for _, cli := range clients() {
		id := d.must(cli, "create", "-v", "/anon", "-v", "named1:/named", "--mount", "type=volume,target=/anon2", "busybox", "true")
		mounts := d.must(cli, "inspect", "-f", "{{range .Mounts}}{{.Type}},{{.Destination}},{{if eq .Destination \"/named\"}}{{.Name}}{{end}} {{end}}", id)
		if mounts != "volume,/anon, volume,/anon2, volume,/named,named1" {
			t.Errorf("%s inspect .Mounts: %q", cli, mounts)
		}
		anon := strings.Fields(d.must(cli, "inspect", "-f", "{{range .Mounts}}{{if ne .Destination \"/named\"}}{{.Name}} {{end}}{{end}}", id))
		if len(anon) != 2 || len(anon[0]) != 64 {
			t.Fatalf("%s: anonymous volume names %q", cli, anon)
		}
		d.must(cli, "rm", "-v", id)
		left := d.must(cli, "volume", "ls", "-q")
		if left != "named1" {
			t.Errorf("%s: after rm -v, volumes %q (want only named1)", cli, left)
		}
		d.must(cli, "volume", "rm", "named1")
	}
	// Without -v, anonymous volumes stay (and prune takes them, not named ones).
	id := d.mustDocker("create", "-v", "/anon", "-v", "keep:/k", "busybox", "true")
	d.mustDocker("rm", id)
	if n := len(strings.Fields(d.mustDocker("volume", "ls", "-q"))); n != 2 {
		t.Errorf("after rm without -v: %d volumes", n)
	}
	out := d.mustDocker("volume", "prune", "-f")
	if !strings.HasPrefix(out, "Deleted Volumes:\n") || !strings.Contains(out, "Total reclaimed space:") {
		t.Errorf("volume prune: %q", out)
	}
	if got := d.mustDocker("volume", "ls", "-q"); got != "keep" {
		t.Errorf("after prune: %q", got)
	}
	d.mustDocker("volume", "prune", "-af")
	if got := d.mustDocker("volume", "ls", "-q"); got != "" {
		t.Errorf("after prune -a: %q", got)
	}
	// --rm removes anonymous volumes too.
	d.mustDocker("run", "--rm", "-v", "/tmpvol", "busybox", "true")
	if got := d.mustDocker("volume", "ls", "-q"); got != "" {
		t.Errorf("after run --rm: %q", got)
	}
}

// volumeImage imports busybox with /data owned by 1234:5678 (mode 0750) holding a file, declared
// as a VOLUME.
func volumeImage(t *testing.T, d *daemon) {
	t.Helper()
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	_, file, _, _ := runtimeCaller()
	script := filepath.Join(filepath.Dir(file), "..", "..", "contrib", "mkrootfs-busybox.sh")
	if out, err := exec.Command(script, rootfs).CombinedOutput(); err != nil {
		t.Fatalf("mkrootfs: %v\n%s", err, out)
	}
	data := filepath.Join(rootfs, "data")
	os.MkdirAll(filepath.Join(data, "sub"), 0o755)
	os.WriteFile(filepath.Join(data, "sub", "f"), []byte("from the image\n"), 0o640)
	os.Symlink("sub/f", filepath.Join(data, "link"))
	for _, p := range []string{data, filepath.Join(data, "sub"), filepath.Join(data, "sub", "f")} {
		os.Lchown(p, 1234, 5678)
	}
	os.Chmod(data, 0o750)
	tarPath := filepath.Join(dir, "img.tar")
	if out, err := exec.Command("tar", "-C", rootfs, "-cf", tarPath, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	if r := d.runIn(tarPath, dockerCLI, "import", "-c", `CMD ["sh"]`, "-c", "VOLUME /data", "-", "volimg"); r.code != 0 {
		t.Fatalf("import: %s", r.stderr)
	}
}

func TestVolumePrefilledFromImageKeepingOwnership(t *testing.T) {
	d := withBusybox(t)
	removeVolumes(d)
	volumeImage(t, d)
	check := "stat -c '%u:%g %a' /data /data/sub/f; cat /data/link; readlink /data/link"
	want := "1234:5678 750\n1234:5678 640\nfrom the image\nsub/f"
	for _, cli := range clients() {
		// The image's VOLUME: an anonymous volume, filled.
		id := d.must(cli, "run", "-d", "volimg", "sh", "-c", check)
		d.must(cli, "wait", id)
		if got := strings.TrimSpace(d.must(cli, "logs", id)); got != want {
			t.Errorf("%s: image VOLUME content:\n%s\nwant\n%s", cli, got, want)
		}
		if got := d.must(cli, "inspect", "-f", "{{range .Mounts}}{{.Type}} {{.Destination}}{{end}}", id); got != "volume /data" {
			t.Errorf("%s: image VOLUME mount: %q", cli, got)
		}
		d.must(cli, "rm", "-v", id)
		// A new named volume, filled; nocopy leaves it empty.
		if got := d.must(cli, "run", "--rm", "-v", "filled:/data", "volimg", "sh", "-c", check); got != want {
			t.Errorf("%s: named volume content:\n%s", cli, got)
		}
		if got := d.must(cli, "run", "--rm", "-v", "empty:/data:nocopy", "volimg", "ls", "-A", "/data"); got != "" {
			t.Errorf("%s: nocopy volume holds %q", cli, got)
		}
		if got := d.must(cli, "run", "--rm", "--mount", "type=volume,src=empty2,dst=/data,volume-nocopy", "volimg", "ls", "-A", "/data"); got != "" {
			t.Errorf("%s: volume-nocopy volume holds %q", cli, got)
		}
		// A volume already holding data is not refilled.
		d.must(cli, "run", "--rm", "-v", "filled:/data", "volimg", "sh", "-c", "rm -rf /data/*; echo mine > /data/own")
		if got := d.must(cli, "run", "--rm", "-v", "filled:/data", "volimg", "ls", "/data"); got != "own" {
			t.Errorf("%s: a used volume was refilled: %q", cli, got)
		}
		d.must(cli, "volume", "rm", "filled", "empty", "empty2")
	}
}

func TestVolumesFromBackupTrick(t *testing.T) {
	d := withBusybox(t)
	removeVolumes(d)
	backup := t.TempDir()
	d.mustDocker("run", "--name", "john1", "-v", "/john1", "-v", backup+":/bind", "busybox", "sh", "-c", "echo precious > /john1/data")
	d.mustDocker("run", "--rm", "--volumes-from", "john1", "-v", backup+":/backup", "busybox", "tar", "cvf", "/backup/john2.tar", "/john1")
	out, err := exec.Command("tar", "-xOf", filepath.Join(backup, "john2.tar"), "john1/data").CombinedOutput()
	if err != nil || string(out) != "precious\n" {
		t.Fatalf("backup tar: %v %q", err, out)
	}
	for _, cli := range clients() {
		// Binds come along too; :ro makes everything read-only.
		if got := d.must(cli, "run", "--rm", "--volumes-from", "john1", "busybox", "sh", "-c", "cat /john1/data; ls /bind"); got != "precious\njohn2.tar" {
			t.Errorf("%s --volumes-from: %q", cli, got)
		}
		r := d.run(cli, "run", "--rm", "--volumes-from", "john1:ro", "busybox", "sh", "-c", "echo x > /john1/data")
		if r.code == 0 || !strings.Contains(r.stderr, "Read-only file system") {
			t.Errorf("%s --volumes-from :ro: exit %d %q", cli, r.code, r.stderr)
		}
		r = d.run(cli, "run", "--rm", "-v", "ro1:/d:ro", "busybox", "touch", "/d/x")
		if r.code == 0 || !strings.Contains(r.stderr, "Read-only file system") {
			t.Errorf("%s -v name:/d:ro: exit %d %q", cli, r.code, r.stderr)
		}
	}
	// The volume is john1's own: a container that borrowed it did not take it away with --rm.
	if got := d.mustDocker("run", "--rm", "--volumes-from", "john1", "busybox", "cat", "/john1/data"); got != "precious" {
		t.Errorf("after the borrowers: %q", got)
	}
	// While john1 exists its anonymous volume is in use.
	vol := d.mustDocker("inspect", "-f", "{{range .Mounts}}{{if eq .Type \"volume\"}}{{.Name}}{{end}}{{end}}", "john1")
	if r := d.run(dockerCLI, "volume", "rm", vol); r.code == 0 {
		t.Errorf("removed a volume in use")
	}
}

func TestVolumeDataAndUsersSurviveDaemonRestart(t *testing.T) {
	d := withBusybox(t)
	removeVolumes(d)
	id := d.mustDocker("run", "-d", "-v", "persist:/p", "-v", "/anon", "busybox", "sh", "-c", "echo survived > /p/f")
	d.mustDocker("wait", id)
	d.stop()
	d.exited <- nil // stopped: let its cleanup see it gone
	d2 := &daemon{t: t, dir: d.dir, sock: d.sock, pidfile: d.pidfile, dataRoot: d.dataRoot, log: d.log, args: d.args}
	d2.cmd = rerun(d)
	d2.start()
	if got := d2.mustDocker("run", "--rm", "-v", "persist:/p", "busybox", "cat", "/p/f"); got != "survived" {
		t.Errorf("after restart: %q", got)
	}
	if r := d2.run(dockerCLI, "volume", "rm", "persist"); r.code == 0 || !strings.Contains(r.stderr, id) {
		t.Errorf("in-use check after restart: exit %d %q", r.code, r.stderr)
	}
	d2.mustDocker("rm", "-v", id)
	if got := d2.mustDocker("volume", "ls", "-q"); got != "persist" {
		t.Errorf("after rm -v: %q", got)
	}
	d2.mustDocker("volume", "rm", "persist")
}

func TestVolumeLocalDriverTmpfs(t *testing.T) {
	d := withBusybox(t)
	removeVolumes(d)
	for i, cli := range clients() {
		name := fmt.Sprintf("tmp%d", i)
		d.must(cli, "volume", "create", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "--opt", "o=size=2m", name)
		got := d.must(cli, "run", "--rm", "-v", name+":/t", "busybox", "sh", "-c", "echo hi > /t/f; grep ' /t ' /proc/mounts | cut -d' ' -f1,3")
		if got != "tmpfs tmpfs" {
			t.Errorf("%s: tmpfs volume mount: %q", cli, got)
		}
		if got := d.must(cli, "volume", "inspect", "-f", "{{.Options}}", name); got != "map[device:tmpfs o:size=2m type:tmpfs]" {
			t.Errorf("%s: options %q", cli, got)
		}
		d.must(cli, "volume", "rm", name)
	}
}

// --mount's keys, as the docker CLI sends them: volume-subpath (resolved inside the volume, a
// symlink there never leading out), volume-nocopy, volume-opt, bind-recursive, tmpfs-size and
// tmpfs-mode, with dockerd's errors.
func TestMountKeys(t *testing.T) {
	d := withBusybox(t)
	removeVolumes(d)
	d.mustDocker("run", "--rm", "-v", "sp:/v", "busybox", "sh", "-c",
		"mkdir -p /v/sub/deep && echo insub > /v/sub/deep/f && echo file > /v/file && ln -s / /v/esc && ln -s ../../../../.. /v/up")
	// A host directory with a mount below it, for bind-recursive.
	src := t.TempDir()
	sub := filepath.Join(src, "sub")
	os.Mkdir(sub, 0o755)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", sub).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", sub).Run() })
	bind := "type=bind,src=" + src + ",dst=/b"
	for _, cli := range clients() {
		for _, tc := range []struct{ mount, cmd, want string }{
			{"type=volume,src=sp,dst=/m,volume-subpath=sub", "ls /m; cat /m/deep/f", "deep\ninsub"},
			{"type=volume,src=sp,dst=/m,volume-subpath=file", "cat /m", "file"},
			// Through symlinks in the volume: they resolve inside it.
			{"type=volume,src=sp,dst=/m,volume-subpath=esc/sub/deep", "cat /m/f", "insub"},
			{"type=volume,src=sp,dst=/m,volume-subpath=up", "ls /m", "esc\nfile\nsub\nup"},
			{"type=volume,src=nc,dst=/etc,volume-nocopy", "ls /etc | grep -c passwd || true", "0"},
			{"type=volume,src=cp,dst=/etc", "ls /etc | grep -c passwd", "1"},
			{"type=volume,src=vo,dst=/t,volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-opt=o=size=1m", "grep ' /t ' /proc/mounts | cut -d' ' -f3", "tmpfs"},
			{"type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770", "stat -c %a /t; grep ' /t ' /proc/mounts | grep -o 'size=[0-9a-z]*'", "1770\nsize=1024k"},
			{bind, "grep -c ' /b/sub ' /proc/mounts", "1"},
			{bind + ",bind-recursive=disabled", "grep -c ' /b/sub ' /proc/mounts || true", "0"},
			// Read-only binds are read-only below too, unless bind-recursive=writable.
			{bind + ",readonly", "touch /b/x /b/sub/x 2>&1 | wc -l", "2"},
			{bind + ",readonly,bind-recursive=writable", "touch /b/x 2>/dev/null; touch /b/sub/x && echo ok", "ok"},
			{bind + ",readonly,bind-propagation=rprivate,bind-recursive=readonly", "touch /b/sub/y 2>&1 | grep -c Read-only", "1"},
		} {
			if got := d.must(cli, "run", "--rm", "--mount", tc.mount, "busybox", "sh", "-c", tc.cmd); got != tc.want {
				t.Errorf("%s --mount %s: %q, want %q", cli, tc.mount, got, tc.want)
			}
		}
		for _, tc := range []struct {
			mount, want string
			code        int
		}{
			{"type=volume,src=sp,dst=/m,volume-subpath=../x", "subpath must be a relative path within the volume", 125},
			{"type=volume,src=sp,dst=/m,volume-subpath=/etc", "subpath must be a relative path within the volume", 125},
			{"type=volume,dst=/m,volume-subpath=x", "must not set Subpath when using anonymous volumes", 125},
			{"type=volume,src=bad,dst=/m,volume-opt=color=red", `invalid option: "color"`, 125},
			// At start; the CLI reads "no such file or directory" as a missing command (127).
			{"type=volume,src=sp,dst=/m,volume-subpath=nope", "cannot access path nope: no such file or directory", 127},
			{"type=volume,src=sp,dst=/m,volume-subpath=up/etc/passwd", "cannot access path up/etc/passwd: no such file", 127},
		} {
			r := d.run(cli, "run", "--rm", "--mount", tc.mount, "busybox", "true")
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("%s --mount %s: exit %d %q, want %q", cli, tc.mount, r.code, r.stderr, tc.want)
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(sub, "x")); err != nil || len(b) != 0 {
		t.Errorf("bind-recursive=writable did not write below: %v", err)
	}
	if _, err := os.Stat(filepath.Join(sub, "y")); err == nil {
		t.Errorf("bind-recursive=readonly wrote below")
	}
	for _, p := range mountsUnder(filepath.Join(d.dir, "exec")) {
		if strings.Contains(p, "/subpaths/") {
			t.Errorf("subpath bind left: %s", p)
		}
	}
}
