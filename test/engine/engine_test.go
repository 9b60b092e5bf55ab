// Package engine_test starts real berthd instances in temp dirs (own socket, data-root,
// exec-root, pid file) and drives them with bin/berth and the official docker CLI.
package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var binDir string // holds berthd, berth, berth-runtime, berth-runtime-init

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "test/engine: these tests start real daemons and must run as root")
		os.Exit(1)
	}
	_, file, _, _ := runtime.Caller(0)
	repo := filepath.Join(filepath.Dir(file), "..", "..")
	binDir = os.Getenv("BERTH_BIN_DIR")
	tmp := ""
	if binDir == "" {
		var err error
		tmp, err = os.MkdirTemp("", "berth-engine-test-")
		if err != nil {
			panic(err)
		}
		binDir = tmp
		for _, c := range []string{"berthd", "berth", "berth-runtime", "berth-runtime-init"} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, c), "./cmd/"+c)
			cmd.Dir = repo
			if out, err := cmd.CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "build %s: %v\n%s", c, err, out)
				os.Exit(1)
			}
		}
	}
	code := m.Run()
	if tmp != "" {
		os.RemoveAll(tmp)
	}
	os.Exit(code)
}

// daemon is one berthd started by a test.
type daemon struct {
	t                  *testing.T
	dir, sock, pidfile string
	dataRoot           string
	cmd                *exec.Cmd
	args               []string
	exited             chan error
	log                *bytes.Buffer
}

func (d *daemon) host() string { return "unix://" + d.sock }

// startDaemon runs berthd with its own paths plus args, and waits until it answers /_ping.
func startDaemon(t *testing.T, args ...string) *daemon {
	t.Helper()
	return startDaemonWith(t, nil, "{}", args...)
}

// startDaemonWith is startDaemon with extra environment and a daemon.json of its own.
func startDaemonWith(t *testing.T, env []string, daemonJSON string, args ...string) *daemon {
	t.Helper()
	if _, checked := leakChecked.LoadOrStore(t, true); !checked {
		// Registered first, so it runs after the daemons' own clean-up (t.Cleanup is LIFO).
		before := containerProcesses()
		t.Cleanup(func() { checkNoContainerLeft(t, before) })
	}
	dir := t.TempDir()
	d := &daemon{t: t, dir: dir, sock: filepath.Join(dir, "berth.sock"), pidfile: filepath.Join(dir, "berthd.pid"),
		dataRoot: filepath.Join(dir, "data"), log: &bytes.Buffer{}}
	// An empty daemon.json of its own, so the host's /etc/berth/daemon.json plays no part.
	cfgFile := filepath.Join(dir, "daemon.json")
	if err := os.WriteFile(cfgFile, []byte(daemonJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"-H", d.host(), "--data-root", d.dataRoot, "--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", d.pidfile, "--config-file", cfgFile}
	d.args = append(base, args...)
	if !slices.Contains(args, "-b") && !slices.Contains(args, "--bridge") {
		// A bridge and subnet of its own, removed (with its nftables table) after the daemon.
		br, bip := testBridge()
		d.args = append(d.args, "-b", br, "--bip", bip)
		t.Cleanup(func() { removeBridge(br) })
	}
	d.cmd = exec.Command(filepath.Join(binDir, "berthd"), d.args...)
	if env != nil {
		d.cmd.Env = append(os.Environ(), env...)
	}
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	d.start()
	return d
}

// start launches d.cmd and waits until the daemon answers /_ping, failing fast if it exits.
func (d *daemon) start() {
	d.t.Helper()
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	d.exited = make(chan error, 1)
	go func() { d.exited <- d.cmd.Wait() }()
	d.t.Cleanup(d.stop)
	d.t.Cleanup(d.removeContainers) // runs first
	deadline := time.Now().Add(10 * time.Second)
	for {
		if resp, err := d.get("/_ping"); err == nil {
			resp.Body.Close()
			return
		}
		select {
		case err := <-d.exited:
			d.exited <- err
			d.t.Fatalf("berthd exited (%v) before serving: %s", err, d.log)
		default:
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("berthd did not come up: %s", d.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var leakChecked sync.Map // *testing.T → true: its leak check is registered

// containerProcesses maps the pids of the host's processes in a container cgroup of berthd's
// (/berth/<64-hex id>) to that cgroup. Only berthd's ids count: the runtime's tests, which may
// run at the same time, name their containers' cgroups /berth/<test name>.
func containerProcesses() map[int]string {
	out := map[int]string{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cgroup")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if _, id, ok := strings.Cut(line, ":/berth/"); ok && isContainerID(id) {
				out[pid] = "/berth/" + id
				break
			}
		}
	}
	return out
}

// isContainerID reports whether s has the shape of berthd's container ids.
func isContainerID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// checkNoContainerLeft fails the test if a container process it started outlived its daemons
// and their clean-up (a container whose record is gone but whose processes run on), and kills
// it by its pid.
func checkNoContainerLeft(t *testing.T, before map[int]string) {
	for pid, cg := range containerProcesses() {
		if _, ok := before[pid]; ok {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		t.Errorf("a container process outlived the test: pid %d in %s: %q", pid, cg, strings.ReplaceAll(string(cmdline), "\x00", " "))
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// removeContainers force-removes every container the daemon still has, so that a test that
// failed half-way leaves no container running, mounted or networked behind it.
func (d *daemon) removeContainers() {
	select {
	case err := <-d.exited:
		d.exited <- err
		return // gone (or replaced): its containers are its successor's
	default:
	}
	env := append(os.Environ(), "DOCKER_HOST="+d.host(), "DOCKER_CONFIG="+d.dir)
	ps := exec.Command(dockerCLI, "ps", "-aq")
	ps.Env = env
	out, err := ps.Output()
	if ids := strings.Fields(string(out)); err == nil && len(ids) > 0 {
		rm := exec.Command(dockerCLI, append([]string{"rm", "-f", "-v"}, ids...)...)
		rm.Env = env
		rm.Run()
	}
}

// stop ends the daemon by its pid with SIGTERM and checks it removed its socket and pid file.
func (d *daemon) stop() {
	select {
	case <-d.exited:
		return // already gone; start reported it
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.exited:
		if err != nil {
			d.t.Errorf("berthd exited with %v: %s", err, d.log)
		}
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
		d.t.Errorf("berthd did not stop on SIGTERM: %s", d.log)
	}
	for _, p := range []string{d.sock, d.pidfile} {
		if _, err := os.Stat(p); err == nil {
			d.t.Errorf("%s left behind after shutdown", p)
		}
	}
}

func (d *daemon) httpClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", d.sock)
		},
	}}
}

func (d *daemon) do(method, path string) (*http.Response, error) {
	req, _ := http.NewRequest(method, "http://berth"+path, nil)
	return d.httpClient().Do(req)
}

func (d *daemon) get(path string) (*http.Response, error) { return d.do(http.MethodGet, path) }

type result struct {
	stdout, stderr string
	code           int
}

// run runs a client program (docker or berth) against the daemon.
func (d *daemon) run(prog string, args ...string) result {
	d.t.Helper()
	return d.runStdin(nil, prog, args...)
}

// runStdin is run with stdin (nil: none).
func (d *daemon) runStdin(stdin io.Reader, prog string, args ...string) result {
	d.t.Helper()
	return d.runEnv(nil, stdin, prog, args...)
}

// runEnv is run with extra environment and stdin (nil: none).
func (d *daemon) runEnv(env []string, stdin io.Reader, prog string, args ...string) result {
	d.t.Helper()
	cmd := exec.Command(prog, args...)
	cmd.Env = append(append(os.Environ(), "DOCKER_HOST="+d.host(), "BERTH_HOST="+d.host(), "DOCKER_CONFIG="+d.dir), env...)
	cmd.Stdin = stdin
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	r := result{stdout: o.String(), stderr: e.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		d.t.Fatalf("%s %v: %v", prog, args, err)
	}
	return r
}

// clients are the two CLIs every scenario runs with, against the same daemon.
func clients() []string { return []string{dockerCLI, berthBin()} }

// must runs a client and fails the test unless it exits 0; it returns trimmed stdout.
func (d *daemon) must(prog string, args ...string) string {
	d.t.Helper()
	r := d.run(prog, args...)
	if r.code != 0 {
		d.t.Fatalf("%s %v: exit %d\n%s%s", filepath.Base(prog), args, r.code, r.stdout, r.stderr)
	}
	return strings.TrimSpace(r.stdout)
}

func berthBin() string { return filepath.Join(binDir, "berth") }

const dockerCLI = "/usr/local/bin/docker"

func TestVersionWithBothClients(t *testing.T) {
	d := startDaemon(t)
	for _, prog := range []string{dockerCLI, berthBin()} {
		r := d.run(prog, "version")
		if r.code != 0 {
			t.Fatalf("%s version: exit %d\n%s%s", prog, r.code, r.stdout, r.stderr)
		}
		for _, want := range []string{"Server: berth", "Engine:", "1.50 (minimum version 1.24)", "berth-runtime"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("%s version output lacks %q:\n%s", prog, want, r.stdout)
			}
		}
	}
}

func TestInfoWithBothClients(t *testing.T) {
	d := startDaemon(t)
	for _, prog := range []string{dockerCLI, berthBin()} {
		r := d.run(prog, "info")
		if r.code != 0 {
			t.Fatalf("%s info: exit %d\n%s%s", prog, r.code, r.stdout, r.stderr)
		}
		for _, want := range []string{"Docker Root Dir: " + d.dataRoot, "Default Runtime: berth-runtime", "Cgroup Driver: cgroupfs", "Storage Driver: overlayfs"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("%s info output lacks %q:\n%s", prog, want, r.stdout)
			}
		}
	}
	// The engine id is made once and kept across restarts of the same data root.
	id1, _ := os.ReadFile(filepath.Join(d.dataRoot, "engine-id"))
	if len(bytes.TrimSpace(id1)) != 36 {
		t.Errorf("engine-id = %q", id1)
	}
}

func TestAPIVersionsAndErrors(t *testing.T) {
	d := startDaemon(t)
	cases := []struct {
		method, path string
		status       int
		message      string
	}{
		{"GET", "/v1.99/version", 400, "client version 1.99 is too new. Maximum supported API version is 1.50"},
		{"GET", "/v1.12/version", 400, "client version 1.12 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version"},
		{"GET", "/v1.50/no-such-route", 404, "page not found"},
		{"GET", "/no-such-route", 404, "page not found"},
		{"GET", "/v1.24/version", 200, ""},
		{"GET", "/v1.50/info", 200, ""},
		{"GET", "/version", 200, ""},
	}
	for _, c := range cases {
		resp, err := d.do(c.method, c.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s %s: status %d, want %d (%s)", c.method, c.path, resp.StatusCode, c.status, body)
			continue
		}
		if c.message != "" {
			var e struct{ Message string }
			if err := json.Unmarshal(body, &e); err != nil || e.Message != c.message {
				t.Errorf("%s %s: body %s, want message %q", c.method, c.path, body, c.message)
			}
		}
		if got := resp.Header.Get("Api-Version"); got != "1.50" {
			t.Errorf("%s %s: Api-Version header %q", c.method, c.path, got)
		}
	}
	for _, m := range []string{"GET", "HEAD"} {
		resp, err := d.do(m, "/_ping")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := "OK"
		if m == "HEAD" {
			want = ""
		}
		if resp.StatusCode != 200 || string(body) != want || resp.Header.Get("Ostype") != "linux" || resp.Header.Get("Cache-Control") == "" {
			t.Errorf("%s /_ping: %d %q %v", m, resp.StatusCode, body, resp.Header)
		}
	}
}

func TestSocketOwnership(t *testing.T) {
	g, err := user.LookupGroup("daemon")
	if err != nil {
		t.Fatalf("this test needs the standard 'daemon' group: %v", err)
	}
	d := startDaemon(t, "-G", "daemon")
	st, err := os.Stat(d.sock)
	if err != nil {
		t.Fatal(err)
	}
	gid := st.Sys().(*syscall.Stat_t).Gid
	if st.Mode().Perm() != 0o660 || strconv.Itoa(int(gid)) != g.Gid {
		t.Errorf("socket mode %v gid %d, want 0660 and group daemon (%s)", st.Mode().Perm(), gid, g.Gid)
	}

	d2 := startDaemon(t, "-G", "berth-no-such-group")
	st, err = os.Stat(d2.sock)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v without the group, want 0600 (root only)", st.Mode().Perm())
	}
	if !strings.Contains(d2.log.String(), "group not found") {
		t.Errorf("daemon did not say the group is missing: %s", d2.log)
	}
}

// berthdFails runs berthd expecting it to refuse to start, and returns its output.
func berthdFails(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !slices.Contains(args, "-b") {
		// If it fails only after setting up its bridge, the bridge is the test's to remove.
		br, bip := testBridge()
		args = append(args, "-b", br, "--bip", bip)
		t.Cleanup(func() { removeBridge(br) })
	}
	out, err := exec.CommandContext(ctx, filepath.Join(binDir, "berthd"), args...).CombinedOutput()
	if err == nil {
		t.Fatalf("berthd %v started; want a refusal", args)
	}
	return string(out)
}

func TestRefusals(t *testing.T) {
	d := startDaemon(t)
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "daemon.json")
	os.WriteFile(cfgFile, []byte("{}"), 0o600)
	paths := []string{"--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec"), "--config-file", cfgFile}

	out := berthdFails(t, append(paths, "-H", "unix://"+filepath.Join(dir, "s.sock"), "--pidfile", d.pidfile)...)
	if !strings.Contains(out, "pid file found") {
		t.Errorf("second daemon on the same pid file: %s", out)
	}
	out = berthdFails(t, append(paths, "-H", d.host(), "--pidfile", filepath.Join(dir, "p"))...)
	if !strings.Contains(out, "another daemon is already serving") {
		t.Errorf("second daemon on the same socket: %s", out)
	}
	out = berthdFails(t, append(paths, "-H", "tcp://127.0.0.1:0", "--pidfile", filepath.Join(dir, "p"))...)
	if !strings.Contains(out, "--tlsverify") {
		t.Errorf("tcp without TLS: %s", out)
	}
	out = berthdFails(t, append(paths, "-H", "unix://"+filepath.Join(dir, "s.sock"), "--pidfile", filepath.Join(dir, "p"), "--default-runtime", "no-such-runtime")...)
	if !strings.Contains(out, `default runtime "no-such-runtime" is not available`) {
		t.Errorf("unknown default runtime: %s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "s.sock")); err == nil {
		t.Error("a refused daemon left its socket")
	}
	// The first daemon is unaffected.
	if r := d.run(berthBin(), "version"); r.code != 0 {
		t.Errorf("first daemon stopped answering: %s", r.stderr)
	}
}

func TestDaemonJSON(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "daemon.json")
	common := []string{"-H", "unix://" + filepath.Join(dir, "s.sock"), "--pidfile", filepath.Join(dir, "p"), "--config-file", cfg}
	br, bip := testBridge()
	common = append(common, "-b", br, "--bip", bip)
	t.Cleanup(func() { removeBridge(br) })

	os.WriteFile(cfg, []byte(`{"data-root": "/x", "no-such-option": 1}`), 0o600)
	if out := berthdFails(t, common...); !strings.Contains(out, "the following directives don't match any configuration option: no-such-option") {
		t.Errorf("unknown key: %s", out)
	}
	os.WriteFile(cfg, []byte(`{"data-root": "/x"}`), 0o600)
	if out := berthdFails(t, append(common, "--data-root", filepath.Join(dir, "d"))...); !strings.Contains(out, "specified both as a flag and in the configuration file: data-root") {
		t.Errorf("flag and file: %s", out)
	}
	os.WriteFile(cfg, []byte(`{"data-root": `), 0o600)
	if out := berthdFails(t, common...); !strings.Contains(out, "unable to configure the daemon with file") {
		t.Errorf("malformed file: %s", out)
	}

	// A valid file is used: its data-root shows in info.
	root := filepath.Join(dir, "from-file")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`{"data-root": %q, "exec-root": %q}`, root, filepath.Join(dir, "exec"))), 0o600)
	d := &daemon{t: t, dir: dir, sock: filepath.Join(dir, "s.sock"), pidfile: filepath.Join(dir, "p"), dataRoot: root, log: &bytes.Buffer{}}
	d.cmd = exec.Command(filepath.Join(binDir, "berthd"), common...)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	d.start()
	if r := d.run(dockerCLI, "info"); !strings.Contains(r.stdout, "Docker Root Dir: "+root) {
		t.Errorf("data-root from daemon.json not used:\n%s%s", r.stdout, r.stderr)
	}
}

func TestCLIWithoutDaemon(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "absent.sock")
	cmd := exec.Command(berthBin(), "-H", "unix://"+sock, "info")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("berth info without a daemon succeeded: %s", out)
	}
	if !strings.Contains(string(out), "Is berthd running?") {
		t.Errorf("no hint to start the daemon: %s", out)
	}
	cmd = exec.Command(berthBin(), "no-such-command")
	out, _ = cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != 125 || !strings.Contains(string(out), "unknown command") {
		t.Errorf("unknown command: exit %d: %s", cmd.ProcessState.ExitCode(), out)
	}
}

func runtimeCaller() (uintptr, string, int, bool) { return runtime.Caller(0) }

// rerun is a fresh command for a daemon with the same arguments (a restart).
func rerun(d *daemon) *exec.Cmd {
	cmd := exec.Command(filepath.Join(binDir, "berthd"), d.args...)
	cmd.Stdout, cmd.Stderr = d.log, d.log
	return cmd
}

var bridgeSeq atomic.Int32

// testBridge names a bridge and an address/subnet for one test daemon, unique on this host for
// this test process: bt<pid>x<n> and 10.(200+pid%40).<n>.1/24. A subnet some interface of the host
// already has (another test process whose pid is the same modulo 40) is skipped: two bridges with
// one subnet would send a test's traffic to the other's.
func testBridge() (name, bip string) {
	pid := os.Getpid()
	for {
		n := int(bridgeSeq.Add(1))
		name, bip = fmt.Sprintf("bt%dx%d", pid%100000, n%1000), fmt.Sprintf("10.%d.%d.1/24", 200+pid%40, n%256)
		if !subnetOnHost(netip.MustParsePrefix(bip)) {
			return name, bip
		}
	}
}

// subnetOnHost: an address of some interface of the host lies in p's subnet.
func subnetOnHost(p netip.Prefix) bool {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && p.Masked().Contains(ip.Unmap()) {
				return true
			}
		}
	}
	return false
}

// removeBridge deletes a test daemon's bridge and nftables table, by the names it was given.
func removeBridge(name string) {
	exec.Command("ip", "link", "del", name).Run()
	exec.Command("nft", "delete", "table", "ip", "berth-"+name).Run()
	exec.Command("nft", "delete", "table", "ip6", "berth-"+name).Run()
}
