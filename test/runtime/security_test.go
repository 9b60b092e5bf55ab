package runtime_test

// Security tests: each proves one defence of berth-runtime by attempting the attack it stops.

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berthproject/berth/test/checker/report"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ---- helpers shared by security_test.go, badinput_test.go and seccomp_test.go ----

func sha256File(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// shBundle makes a bundle whose process is `sh -c script`.
func (e *env) shBundle(script string, mutate func(*specs.Spec)) string {
	e.t.Helper()
	return e.bundle(func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", script}
		if mutate != nil {
			mutate(s)
		}
	})
}

// cgroupDirs lists the cgroup directories a container with the default cgroupsPath would get.
func cgroupDirs(id string) []string {
	var dirs []string
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return []string{filepath.Join("/sys/fs/cgroup/berth", id)} // cgroup v2
	}
	dirs = append(dirs, filepath.Join("/sys/fs/cgroup/pids/berth", id))
	more, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/*/berth", id))
	return append(dirs, more...)
}

// traces lists what a container id / bundle left behind on the host: a state dir, cgroup
// directories, mounts of the bundle, and live processes whose root lies in the bundle.
func (e *env) traces(id, bundle string) []string {
	var out []string
	if id != "" {
		if _, err := os.Lstat(filepath.Join(e.root, id)); err == nil {
			out = append(out, "state dir "+filepath.Join(e.root, id))
		}
		for _, d := range cgroupDirs(id) {
			if _, err := os.Stat(d); err == nil {
				out = append(out, "cgroup "+d)
			}
		}
	}
	if bundle != "" {
		if mi, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
			for _, l := range strings.Split(string(mi), "\n") {
				if strings.Contains(l, bundle) {
					out = append(out, "mount: "+l)
				}
			}
		}
		procs, _ := filepath.Glob("/proc/[0-9]*")
		for _, p := range procs {
			if r, err := os.Readlink(p + "/root"); err == nil && strings.HasPrefix(r, bundle) {
				out = append(out, fmt.Sprintf("process %s with root %s", filepath.Base(p), r))
			}
		}
	}
	return out
}

// assertNoTraces fails the test if a failed create left anything behind. A killed init may take
// a moment to be reaped, so it polls briefly.
func (e *env) assertNoTraces(id, bundle string) {
	e.t.Helper()
	var left []string
	for deadline := time.Now().Add(3 * time.Second); ; {
		if left = e.traces(id, bundle); len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, l := range left {
		e.t.Errorf("left behind: %s", l)
	}
}

// ---- CVE-2019-5736: the init's executable is not the host binary and cannot be written ----

// hostBinary is a host executable a container's init may run: berth-runtime itself, or the
// berth-runtime-init beside it (used when present).
type hostBinary struct {
	path, sha string
	st        unix.Stat_t
}

func initCandidates(t *testing.T) []hostBinary {
	t.Helper()
	var out []hostBinary
	for _, p := range []string{runtimeBin, filepath.Join(filepath.Dir(runtimeBin), "berth-runtime-init")} {
		var st unix.Stat_t
		if unix.Stat(p, &st) != nil {
			continue
		}
		out = append(out, hostBinary{path: p, sha: sha256File(t, p), st: st})
	}
	return out
}

// checkUnchanged fails if any candidate binary's content changed.
func checkUnchanged(t *testing.T, bins []hostBinary) {
	t.Helper()
	for _, b := range bins {
		if after := sha256File(t, b.path); after != b.sha {
			t.Errorf("host binary %s changed: sha256 %s -> %s", b.path, b.sha, after)
		}
	}
}

// whichBinary returns the candidate whose content has the given sha256.
func whichBinary(bins []hostBinary, sha string) *hostBinary {
	for i := range bins {
		if bins[i].sha == sha {
			return &bins[i]
		}
	}
	return nil
}

func TestCVE20195736InitExeSealed(t *testing.T) {
	e := newEnv(t)
	b := e.bundle(sleeper(nil))
	id := e.id()
	bins := initCandidates(t)
	e.mustRT("create", "--bundle", b, id)
	defer e.rt("delete", "--force", id)
	pid := e.ociState(id).Pid
	exe := fmt.Sprintf("/proc/%d/exe", pid)

	// Sanity: the blocked init really is executing (a view of) a host runtime binary.
	sha := sha256File(t, exe)
	host := whichBinary(bins, sha)
	if host == nil {
		t.Fatalf("init %d runs %s with sha256 %s, none of the runtime binaries %+v: test would prove nothing", pid, exe, sha, bins)
	}
	var init unix.Stat_t
	if err := unix.Stat(exe, &init); err != nil {
		t.Fatal(err)
	}
	if host.st.Dev == init.Dev && host.st.Ino == init.Ino {
		t.Errorf("%s is the host binary %s itself (dev %d ino %d): a container could overwrite it", exe, host.path, init.Dev, init.Ino)
	}
	for _, flag := range []int{os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_TRUNC, os.O_WRONLY | os.O_APPEND} {
		f, err := os.OpenFile(exe, flag, 0)
		if err == nil {
			f.Close()
			t.Errorf("open %s with flags %#x for writing succeeded", exe, flag)
			continue
		}
		if !errors.Is(err, unix.EROFS) && !errors.Is(err, unix.ETXTBSY) && !errors.Is(err, unix.EPERM) {
			t.Errorf("open %s for writing: %v, want EROFS, ETXTBSY or EPERM", exe, err)
		}
	}
	if err := os.Truncate(exe, 0); err == nil {
		t.Errorf("truncate %s succeeded", exe)
	}
	checkUnchanged(t, bins)
	e.mustRT("delete", "--force", id)
}

// TestCVE20195736FromSibling mounts the attack from inside a container: a second container
// joins the pid namespace of a created (blocked) one, where pid 1 is still the runtime's init,
// and tries to write through /proc/1/exe.
func TestCVE20195736FromSibling(t *testing.T) {
	e := newEnv(t)
	bins := initCandidates(t)
	victim := e.id()
	e.mustRT("create", "--bundle", e.bundle(sleeper(nil)), victim)
	defer e.rt("delete", "--force", victim)
	pid := e.ociState(victim).Pid
	script := `set -u
s=$(stat -L -c '%d:%i' /proc/1/exe) || { echo "STAT-FAILED"; exit 3; }
echo "EXE=$s"
sha256sum /proc/1/exe
if echo pwned >> /proc/1/exe; then echo WROTE; fi
if echo pwned > /proc/1/exe; then echo WROTE; fi
exit 0`
	b := e.shBundle(script, func(s *specs.Spec) {
		for i, ns := range s.Linux.Namespaces {
			if ns.Type == specs.PIDNamespace {
				s.Linux.Namespaces[i].Path = fmt.Sprintf("/proc/%d/ns/pid", pid)
			}
		}
		c := append(s.Process.Capabilities.Bounding, "CAP_SYS_PTRACE", "CAP_DAC_OVERRIDE")
		s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: c, Effective: c, Permitted: c}
	})
	r := e.rt("run", "--bundle", b, e.id())
	t.Logf("sibling: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	if r.code != 0 {
		t.Fatalf("sibling container failed: exit %d", r.code)
	}
	if strings.Contains(r.stdout, "WROTE") {
		t.Errorf("the sibling container wrote to the victim's init executable")
	}
	var host *hostBinary
	for _, f := range strings.Fields(r.stdout) {
		if h := whichBinary(bins, f); h != nil {
			host = h
		}
	}
	if host == nil {
		t.Fatalf("sibling did not see a runtime binary as /proc/1/exe (candidates %+v): the test proves nothing", bins)
	}
	if want := fmt.Sprintf("EXE=%d:%d\n", host.st.Dev, host.st.Ino); strings.Contains(r.stdout, want) {
		t.Errorf("/proc/1/exe inside the container is the host binary %s itself (%s)", host.path, strings.TrimSpace(want))
	}
	if !strings.Contains(r.stderr, "Read-only file system") && !strings.Contains(r.stderr, "Text file busy") && !strings.Contains(r.stderr, "Operation not permitted") {
		t.Errorf("write to /proc/1/exe did not fail with EROFS/ETXTBSY/EPERM: stderr %q", r.stderr)
	}
	checkUnchanged(t, bins)
}

// ---- CVE-2024-21626: no host fd is reachable as the process's cwd ----

func TestCVE202421626CwdLeakedFd(t *testing.T) {
	e := newEnv(t)
	b := e.bundle(nil)
	for n := 3; n <= 20; n++ {
		cwd := "/proc/self/fd/" + strconv.Itoa(n)
		s := loadSpec(t, b)
		s.Process.Cwd = cwd
		writeSpec(t, b, s)
		id := e.id()
		r := e.rt("run", "--bundle", b, id)
		if r.code != 0 {
			if strings.TrimSpace(r.stderr) == "" {
				t.Errorf("cwd %s: run failed (exit %d) without an error message", cwd, r.code)
			}
			e.assertNoTraces(id, "")
			continue
		}
		rep := decodeReport(t, r)
		if !strings.HasPrefix(rep.Cwd, "/") || strings.Contains(rep.Cwd, "(unreachable)") {
			t.Errorf("cwd %s: the container's cwd is %q: outside its root", cwd, rep.Cwd)
		}
		checkOnlyStdio(t, "cwd "+cwd, rep.FDs)
	}

	// The init surely holds a host directory when the caller hands it one as stdin: the cwd
	// /proc/self/fd/0 then reaches it, unless the runtime checks where chdir landed.
	s := loadSpec(t, b)
	s.Process.Cwd = "/proc/self/fd/0"
	writeSpec(t, b, s)
	hostDir := t.TempDir()
	r := e.runWithDirStdin(hostDir, "run", "--bundle", b, e.id())
	if r.code == 0 {
		if rep := decodeReport(t, r); !strings.HasPrefix(rep.Cwd, "/") || strings.Contains(rep.Cwd, "(unreachable)") || strings.HasPrefix(rep.Cwd, hostDir) {
			t.Errorf("cwd /proc/self/fd/0 with a host dir as stdin: the container's cwd is %q", rep.Cwd)
		}
	} else if !strings.Contains(r.stderr, "outside") && strings.TrimSpace(r.stderr) == "" {
		t.Errorf("run failed without an error message")
	}
}

// runWithDirStdin runs berth-runtime with an open host directory as its stdin.
func (e *env) runWithDirStdin(dir string, args ...string) result {
	e.t.Helper()
	d, err := os.Open(dir)
	if err != nil {
		e.t.Fatal(err)
	}
	defer d.Close()
	return e.rtIn(d, args...)
}

// TestCVE202421626Exec does the same through `exec --cwd`.
func TestCVE202421626Exec(t *testing.T) {
	e := newEnv(t)
	id := e.id()
	e.mustRT("run", "--detach", "--bundle", e.bundle(sleeper(nil)), id)
	defer e.rt("delete", "--force", id)
	for n := 3; n <= 20; n++ {
		cwd := "/proc/self/fd/" + strconv.Itoa(n)
		r := e.rt("exec", "--cwd", cwd, id, "/checker")
		if r.code != 0 {
			if strings.TrimSpace(r.stderr) == "" {
				t.Errorf("exec --cwd %s failed (exit %d) without an error message", cwd, r.code)
			}
			continue
		}
		rep := decodeReport(t, r)
		if !strings.HasPrefix(rep.Cwd, "/") || strings.Contains(rep.Cwd, "(unreachable)") {
			t.Errorf("exec --cwd %s: cwd is %q: outside the container's root", cwd, rep.Cwd)
		}
		checkOnlyStdio(t, "exec --cwd "+cwd, rep.FDs)
	}
	hostDir := t.TempDir()
	r := e.runWithDirStdin(hostDir, "exec", "--cwd", "/proc/self/fd/0", id, "/checker")
	if r.code == 0 {
		if rep := decodeReport(t, r); !strings.HasPrefix(rep.Cwd, "/") || strings.Contains(rep.Cwd, "(unreachable)") || strings.HasPrefix(rep.Cwd, hostDir) {
			t.Errorf("exec --cwd /proc/self/fd/0 with a host dir as stdin: cwd is %q", rep.Cwd)
		}
	} else if strings.TrimSpace(r.stderr) == "" {
		t.Errorf("exec failed without an error message")
	}
	if st := e.ociState(id); st.Status != specs.StateRunning {
		t.Errorf("container is %s after the execs, want running", st.Status)
	}
}

// ---- mount destinations resolve inside the rootfs ----

func TestMountDestinationSymlinkEscape(t *testing.T) {
	for _, existing := range []bool{false, true} {
		name := "dangling"
		if existing {
			name = "target-in-rootfs"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			hostDir := t.TempDir()
			hostFile := filepath.Join(t.TempDir(), "secret")
			if err := os.WriteFile(hostFile, []byte("bound-file\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			b := e.bundle(func(s *specs.Spec) {
				s.Mounts = append(s.Mounts,
					specs.Mount{Destination: "/escape/x", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m"}},
					specs.Mount{Destination: "/rel/y", Type: "bind", Source: hostFile, Options: []string{"bind", "ro"}})
			}, "-stat", hostDir+"/x", "-stat", hostDir+"/y", "-stat", "/escape", "-stat", "/rel")
			rootfs := filepath.Join(b, "rootfs")
			if err := os.Symlink(hostDir, filepath.Join(rootfs, "escape")); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("../../../../.."+hostDir, filepath.Join(rootfs, "rel")); err != nil {
				t.Fatal(err)
			}
			if existing {
				if err := os.MkdirAll(filepath.Join(rootfs, hostDir), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			id := e.id()
			r := e.rt("run", "--bundle", b, id)

			// Whatever happened, the host directory is untouched and nothing is mounted on it.
			if ents, err := os.ReadDir(hostDir); err != nil || len(ents) != 0 {
				t.Errorf("host dir %s: %v entries (err %v): the mounts escaped the rootfs", hostDir, len(ents), err)
			}
			if mi, _ := os.ReadFile("/proc/self/mountinfo"); bytes.Contains(mi, []byte(hostDir)) {
				t.Errorf("host mountinfo mentions %s:\n%s", hostDir, mi)
			}
			if b, _ := os.ReadFile(hostFile); string(b) != "bound-file\n" {
				t.Errorf("host file changed: %q", b)
			}
			if r.code != 0 {
				if existing {
					t.Fatalf("run with a symlinked mount destination whose target exists in the rootfs failed: exit %d: %s", r.code, r.stderr)
				}
				// berth (like runc >= 1.2) may refuse to create directories through a dangling
				// symlink; refusing is safe. runc 1.1 creates them inside the rootfs instead.
				if strings.TrimSpace(r.stderr) == "" {
					t.Errorf("run failed without an error message")
				}
				t.Logf("refused (safe): %s", strings.TrimSpace(r.stderr))
				e.assertNoTraces(id, b)
				return
			}
			t.Logf("accepted: the mounts landed inside the rootfs")
			rep := decodeReport(t, r)
			if m := rep.Mount(hostDir + "/x"); m == nil || m.FSType != "tmpfs" {
				t.Errorf("tmpfs for /escape/x not at %s inside the container: %+v", hostDir+"/x", m)
			}
			if m := rep.Mount(hostDir + "/y"); m == nil || !m.HasOption("ro") {
				t.Errorf("bind for /rel/y not at %s inside the container: %+v", hostDir+"/y", m)
			}
			if st := rep.Stats[hostDir+"/y"]; st.Type != "file" {
				t.Errorf("%s/y inside = %+v, want the bound file", hostDir, st)
			}
			// Inside the rootfs on the host, the mount points were created.
			if _, err := os.Stat(filepath.Join(rootfs, hostDir, "x")); err != nil {
				t.Errorf("mount point not created inside the rootfs: %v", err)
			}
		})
	}
}

// ---- CVE-2019-19921: /proc in the image is a symlink ----

func TestProcSymlinkRefused(t *testing.T) {
	hostDir := t.TempDir()
	for _, target := range []string{"/tmp", "tmp", "../../../../../../" + strings.TrimPrefix(hostDir, "/")} {
		t.Run(strings.ReplaceAll(target, "/", "_"), func(t *testing.T) {
			e := newEnv(t)
			b := e.bundle(sleeper(nil))
			proc := filepath.Join(b, "rootfs", "proc")
			if err := os.Remove(proc); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, proc); err != nil {
				t.Fatal(err)
			}
			id := e.id()
			r := e.rt("create", "--bundle", b, id)
			if r.code == 0 {
				e.rt("delete", "--force", id)
				t.Fatalf("create with /proc -> %s succeeded", target)
			}
			if !strings.Contains(r.stderr, "symlink") {
				t.Errorf("error does not mention the symlink: %q", r.stderr)
			}
			e.assertNoTraces(id, b)
			if ents, _ := os.ReadDir(hostDir); len(ents) != 0 {
				t.Errorf("host dir %s got %d entries", hostDir, len(ents))
			}
		})
	}
}

// ---- masked paths ----

func TestMaskedPaths(t *testing.T) {
	e := newEnv(t)
	// Only paths that exist on this kernel are masked (the others are skipped by design).
	var dirs, files []string
	for _, p := range []string{"/proc/acpi", "/sys/firmware", "/proc/scsi"} {
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			dirs = append(dirs, p)
		}
	}
	for _, p := range []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug"} {
		if _, err := os.Stat(p); err == nil {
			files = append(files, p)
		}
	}
	if len(dirs) == 0 || len(files) == 0 {
		t.Skipf("no maskable paths on this host (dirs %v files %v)", dirs, files)
	}
	var args []string
	for _, d := range dirs {
		args = append(args, "-write", d+"/probe")
	}
	r := e.runChecker(e.bundle(nil, args...))
	for _, d := range dirs {
		m := r.Mount(d)
		if m == nil || m.FSType != "tmpfs" || !m.HasOption("ro") {
			t.Errorf("masked dir %s: mount %+v, want a read-only tmpfs", d, m)
		}
		if w := r.Writes[d+"/probe"]; w.OK || w.Errno != "EROFS" {
			t.Errorf("write in masked dir %s: %+v, want EROFS", d, w)
		}
	}
	for _, f := range files {
		if r.Mount(f) == nil {
			t.Errorf("masked file %s is not masked", f)
		}
	}
	// Contents: directories list empty, files read as nothing.
	script := ""
	for _, d := range dirs {
		script += fmt.Sprintf("echo \"%s=$(ls -A %s | wc -l)\"; ", d, d)
	}
	for _, f := range files {
		script += fmt.Sprintf("echo \"%s=$(cat %s | wc -c)\"; ", f, f)
	}
	out := e.mustRT("run", "--bundle", e.shBundle(script, nil), e.id()).stdout
	got := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			got[k] = strings.TrimSpace(v)
		}
	}
	for _, p := range append(append([]string{}, dirs...), files...) {
		if got[p] != "0" {
			t.Errorf("masked %s: %q entries/bytes inside, want 0 (output %q)", p, got[p], out)
		}
	}
}

// ---- state directories ----

func TestStateDirModes(t *testing.T) {
	e := newEnv(t)
	if err := os.Chmod(e.root, 0o755); err != nil {
		t.Fatal(err)
	}
	id := e.id()
	e.mustRT("create", "--bundle", e.bundle(sleeper(nil)), id)
	defer e.rt("delete", "--force", id)
	for _, d := range []string{e.root, filepath.Join(e.root, id)} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o700 {
			t.Errorf("%s has mode %o, want 0700", d, fi.Mode().Perm())
		}
	}
	// A root that does not exist yet is created 0700 too.
	fresh := filepath.Join(t.TempDir(), "a", "root")
	id2 := e.id()
	b := e.bundle(sleeper(nil))
	if r := e.rt("--root", fresh, "create", "--bundle", b, id2); r.code != 0 {
		t.Fatalf("create with a fresh root: %s", r.stderr)
	}
	defer e.rt("--root", fresh, "delete", "--force", id2)
	for _, d := range []string{fresh, filepath.Join(fresh, id2)} {
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v, want mode 0700", d, fi.Mode())
		}
	}
	e.mustRT("--root", fresh, "delete", "--force", id2)
}

// ---- container ids ----

func TestInvalidContainerIDs(t *testing.T) {
	e := newEnv(t)
	parent := t.TempDir()
	root := filepath.Join(parent, "root")
	b := e.bundle(sleeper(nil))
	for _, id := range []string{"../x", "a/b", "..", ".", "", "x y", "../../../../tmp/berth-escape", "a\nb"} {
		cmd := []string{"--root", root, "create", "--bundle", b, id}
		r := e.rt(cmd...)
		if r.code == 0 {
			e.rt("--root", root, "delete", "--force", id)
			t.Errorf("create %q succeeded", id)
			continue
		}
		if !strings.Contains(r.stderr, "invalid container id") {
			t.Errorf("create %q: stderr %q lacks \"invalid container id\"", id, r.stderr)
		}
	}
	ents, _ := os.ReadDir(parent)
	for _, ent := range ents {
		if ent.Name() != "root" {
			t.Errorf("created %s outside --root", filepath.Join(parent, ent.Name()))
		}
	}
	if ents, _ := os.ReadDir(root); len(ents) != 0 {
		t.Errorf("--root holds %d entries after only invalid creates", len(ents))
	}
	if _, err := os.Lstat("/tmp/berth-escape"); err == nil {
		t.Errorf("/tmp/berth-escape was created")
	}
	for _, d := range []string{"/sys/fs/cgroup/pids/x", "/sys/fs/cgroup/pids/berth/x", "/sys/fs/cgroup/x"} {
		if _, err := os.Stat(d); err == nil {
			t.Logf("note: %s exists (may predate this test)", d)
		}
	}
	e.assertNoTraces("", b)
}

// ---- /dev/console through a console socket ----

// recvPty accepts one connection on l and receives the pty master sent over it.
func recvPty(l *net.UnixListener) (*os.File, string, error) {
	l.SetDeadline(time.Now().Add(10 * time.Second))
	c, err := l.AcceptUnix()
	if err != nil {
		return nil, "", err
	}
	defer c.Close()
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, "", err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, "", fmt.Errorf("no control message (%v)", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, "", fmt.Errorf("no fd in the control message (%v)", err)
	}
	return os.NewFile(uintptr(fds[0]), "pty-master"), string(buf[:n]), nil
}

func TestConsoleSocket(t *testing.T) {
	e := newEnv(t)
	sock := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	type got struct {
		f    *os.File
		name string
		err  error
	}
	ch := make(chan got, 1)
	go func() { f, n, err := recvPty(l); ch <- got{f, n, err} }()

	b := e.bundle(func(s *specs.Spec) {
		s.Process.Terminal = true
		s.Process.Args = []string{"sh", "-c", "tty; ls -l /dev/console; echo DONE"}
	})
	id := e.id()
	e.mustRT("create", "--bundle", b, "--console-socket", sock, id)
	defer e.rt("delete", "--force", id)
	g := <-ch
	if g.err != nil {
		t.Fatalf("receive pty master: %v", g.err)
	}
	master := g.f
	defer master.Close()
	t.Logf("console message name %q", g.name)
	if _, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN); err != nil {
		t.Fatalf("received fd is not a pty master: %v", err)
	}
	e.mustRT("start", id)

	var out bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf) // EIO once the slave side is closed
			out.Write(buf[:n])
			if err != nil || strings.Contains(out.String(), "DONE") {
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		master.Close()
		<-done
		t.Fatalf("no DONE from the container's terminal; got %q", out.String())
	}
	text := strings.ReplaceAll(out.String(), "\r\n", "\n")
	if !strings.Contains(text, "/dev/pts/0\n") {
		t.Errorf("tty is not /dev/pts/0: %q", text)
	}
	var line string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, "/dev/console") {
			line = l
		}
	}
	if !strings.HasPrefix(line, "c") {
		t.Errorf("/dev/console is not a character device inside: %q", line)
	}
	if !strings.Contains(line, "136, ") {
		t.Logf("note: /dev/console is not a pts device (major 136): %q", line)
	}
}

// loadSpec reads a bundle's config.json.
func loadSpec(t *testing.T, bundle string) *specs.Spec {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

// decodeReport decodes the checker's report from a finished run.
func decodeReport(t *testing.T, r result) *report.Report {
	t.Helper()
	var rep report.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("decode checker report: %v\n%s\nstderr: %s", err, r.stdout, r.stderr)
	}
	return &rep
}

func checkOnlyStdio(t *testing.T, what string, fds []report.FD) {
	t.Helper()
	for _, fd := range fds {
		if fd.FD > 2 {
			t.Errorf("%s: fd %d (%s) leaked into the container", what, fd.FD, fd.Target)
		}
	}
}
