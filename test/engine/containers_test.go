package engine_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// withBusybox starts a daemon with busybox:latest imported.
func withBusybox(t *testing.T) *daemon {
	t.Helper()
	return withBusyboxArgs(t)
}

// withBusyboxArgs is withBusybox with extra daemon arguments.
func withBusyboxArgs(t *testing.T, args ...string) *daemon {
	t.Helper()
	return withBusyboxConfig(t, "{}", args...)
}

// withBusyboxConfig is withBusyboxArgs with a daemon.json of its own.
func withBusyboxConfig(t *testing.T, daemonJSON string, args ...string) *daemon {
	t.Helper()
	d := startDaemonWith(t, nil, daemonJSON, args...)
	tarPath, _ := busyboxTar(t)
	if r := d.runIn(tarPath, dockerCLI, "import", "-c", `CMD ["sh"]`, "-", "busybox"); r.code != 0 {
		t.Fatalf("import: %s", r.stderr)
	}
	t.Cleanup(func() {
		// Remove every container by id through the daemon (never by process name).
		for _, id := range strings.Fields(d.run(dockerCLI, "ps", "-aq").stdout) {
			d.run(dockerCLI, "rm", "-f", id)
		}
	})
	return d
}

func TestRunWaitLogsRemove(t *testing.T) {
	d := withBusybox(t)
	id := d.mustDocker("run", "-d", "--name", "first", "busybox", "sh", "-c", "echo hello from berth; echo oops >&2; exit 5")
	if got := d.mustDocker("wait", id); got != "5" {
		t.Errorf("wait: %q", got)
	}
	r := d.run(dockerCLI, "logs", "first")
	if r.stdout != "hello from berth\n" || r.stderr != "oops\n" {
		t.Errorf("logs: stdout %q stderr %q", r.stdout, r.stderr)
	}
	for _, prog := range []string{dockerCLI, berthBin()} {
		r := d.run(prog, "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}} {{.Name}} {{.Path}}", id)
		if got := strings.TrimSpace(r.stdout); got != "exited 5 /first sh" {
			t.Errorf("%s inspect: %q %s", prog, got, r.stderr)
		}
	}
	if r := d.run(berthBin(), "inspect", "no-such-thing"); r.code != 1 || !strings.Contains(r.stderr, "No such object: no-such-thing") {
		t.Errorf("berth inspect of nothing: exit %d %s", r.code, r.stderr)
	}
	if got := d.mustDocker("ps", "-a", "--format", "{{.Names}} {{.Image}}"); got != "first busybox" {
		t.Errorf("ps -a: %q", got)
	}
	// Same name again: Docker's conflict.
	if r := d.run(dockerCLI, "create", "--name", "first", "busybox"); r.code == 0 || !strings.Contains(r.stderr, `The container name "/first" is already in use`) {
		t.Errorf("name conflict: exit %d %s", r.code, r.stderr)
	}
	d.mustDocker("rm", "first")
	if got := d.mustDocker("ps", "-aq"); got != "" {
		t.Errorf("ps after rm: %q", got)
	}
}

func TestRunningContainer(t *testing.T) {
	d := withBusybox(t)
	id := d.mustDocker("run", "-d", "--name", "sleeper", "--memory", "64m", "--pids-limit", "20", "busybox", "sleep", "1000")
	if got := d.mustDocker("ps", "--format", "{{.Names}} {{.Command}}"); got != `sleeper "sleep 1000"` {
		t.Errorf("ps: %q", got)
	}
	pid := d.mustDocker("inspect", "-f", "{{.State.Pid}}", id)
	// Docker's defaults, seen from the host.
	status, _ := os.ReadFile("/proc/" + pid + "/status")
	if !strings.Contains(string(status), "Seccomp:\t2") {
		t.Errorf("container process not under seccomp:\n%s", status)
	}
	if lim, _ := os.ReadFile("/sys/fs/cgroup/memory/berth/" + id + "/memory.limit_in_bytes"); strings.TrimSpace(string(lim)) != "67108864" {
		t.Errorf("memory limit %q", lim)
	}
	// rm of a running container is refused; kill then wait gives 137.
	if r := d.run(dockerCLI, "rm", "sleeper"); r.code == 0 || !strings.Contains(r.stderr, "container is running") {
		t.Errorf("rm running: exit %d %s", r.code, r.stderr)
	}
	d.mustDocker("kill", "sleeper")
	if got := d.mustDocker("wait", "sleeper"); got != "137" {
		t.Errorf("wait after kill: %q", got)
	}
	d.mustDocker("rm", "sleeper")
}

func TestStartFailuresUseDockersExitCodes(t *testing.T) {
	d := withBusybox(t)
	for _, prog := range clients() {
		r := d.run(prog, "run", "-d", "busybox", "/no/such/binary")
		if r.code != 127 || !strings.Contains(r.stderr, "no such file or directory") {
			t.Errorf("%s missing binary: exit %d %s", prog, r.code, r.stderr)
		}
		// "permission denied" here is the daemon's answer, not a socket the user cannot open.
		r = d.run(prog, "run", "-d", "busybox", "/etc/passwd")
		if r.code != 126 || !strings.Contains(r.stderr, `exec: "/etc/passwd": permission denied`) || strings.Contains(r.stderr, "usermod") {
			t.Errorf("%s not executable: exit %d %s", prog, r.code, r.stderr)
		}
	}
	if r := d.run(dockerCLI, "run", "-d", "no-such-image:1"); r.code == 0 {
		t.Errorf("missing image: exit 0")
	}
}

// TestContainersOutliveTheDaemon kills berthd with SIGKILL: the container keeps running, and a new
// berthd on the same roots reattaches, sees its exit, and serves its logs.
func TestContainersOutliveTheDaemon(t *testing.T) {
	d := withBusybox(t)
	id := d.mustDocker("run", "-d", "busybox", "sh", "-c", "echo before; sleep 2; echo after; exit 3")
	pid := d.mustDocker("inspect", "-f", "{{.State.Pid}}", id)
	// A --rm container that ends while the daemon is down is removed when it is back (its exit
	// is only ever kept in memory before the removal).
	rmID := d.mustDocker("run", "-d", "--rm", "busybox", "sleep", "1")
	d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.exited
	d.exited <- nil // let stop() see it as gone
	if err := syscall.Kill(atoiOrZero(pid), 0); err != nil {
		t.Fatalf("container died with the daemon: %v", err)
	}
	time.Sleep(1500 * time.Millisecond) // the --rm container ends meanwhile; the other still runs
	// Same paths, new daemon: a crash leaves the socket and pid file, which it must take over.
	d2 := &daemon{t: t, dir: d.dir, sock: d.sock, pidfile: d.pidfile, dataRoot: d.dataRoot, log: d.log}
	d2.cmd = rerun(d)
	d2.start()
	if got := d2.mustDocker("wait", id); got != "3" {
		t.Errorf("wait after restart: %q", got)
	}
	if r := d2.run(dockerCLI, "logs", id); r.stdout != "before\nafter\n" {
		t.Errorf("logs after restart: %q", r.stdout)
	}
	eventually(10*time.Second, func() bool { return d2.run(dockerCLI, "inspect", rmID).code != 0 })
	if r := d2.run(dockerCLI, "inspect", rmID); r.code == 0 {
		t.Errorf("the --rm container that ended while the daemon was down is still there: %s", r.stdout)
	}
	time.Sleep(10 * time.Millisecond)
}

func atoiOrZero(s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// TestForegroundRunWithBothClients runs attached containers with docker and berth: output on the
// right streams, the container's exit status as the client's, --rm removing the container.
func TestForegroundRunWithBothClients(t *testing.T) {
	d := withBusybox(t)
	for _, prog := range []string{dockerCLI, berthBin()} {
		r := d.run(prog, "run", "--rm", "busybox", "sh", "-c", "echo hello from berth; echo oops >&2; exit 3")
		if r.code != 3 || r.stdout != "hello from berth\n" || r.stderr != "oops\n" {
			t.Errorf("%s run --rm: exit %d stdout %q stderr %q", prog, r.code, r.stdout, r.stderr)
		}
		if got := d.mustDocker("ps", "-aq"); got != "" {
			t.Errorf("%s run --rm left %q", prog, got)
		}
		if r := d.run(prog, "run", "--rm", "busybox", "/no/such/binary"); r.code != 127 {
			t.Errorf("%s run of a missing binary: exit %d %s", prog, r.code, r.stderr)
		}
		if got := d.mustDocker("ps", "-aq"); got != "" {
			t.Errorf("%s run --rm of a container that cannot start left %q", prog, got)
		}
		id := strings.TrimSpace(d.run(prog, "run", "-d", "--name", "bg", "busybox", "sleep", "1000").stdout)
		if len(id) != 64 {
			t.Fatalf("%s run -d printed %q", prog, id)
		}
		if r := d.run(prog, "stop", "-t", "1", "bg"); r.code != 0 || r.stdout != "bg\n" {
			t.Errorf("%s stop: exit %d %q %s", prog, r.code, r.stdout, r.stderr)
		}
		if r := d.run(prog, "wait", "bg"); r.stdout != "137\n" {
			t.Errorf("%s wait after stop: %q", prog, r.stdout)
		}
		if r := d.run(prog, "rm", "bg"); r.code != 0 {
			t.Errorf("%s rm: %s", prog, r.stderr)
		}
	}
}

// TestStartAgain starts an exited container again, attached (start -a) and detached: it runs
// again on the same filesystem and its log keeps both runs.
func TestStartAgain(t *testing.T) {
	d := withBusybox(t)
	d.mustDocker("create", "--name", "again", "busybox", "sh", "-c", "echo run >> /tmp/runs; cat /tmp/runs | wc -l; exit 2")
	if r := d.run(dockerCLI, "start", "-a", "again"); r.code != 2 || strings.TrimSpace(r.stdout) != "1" {
		t.Errorf("start -a: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	d.mustDocker("start", "again")
	if got := d.mustDocker("wait", "again"); got != "2" {
		t.Errorf("wait: %q", got)
	}
	// The second run saw the first run's file: the container's writable layer persists.
	if got := strings.Fields(d.mustDocker("logs", "again")); len(got) != 2 || got[0] != "1" || got[1] != "2" {
		t.Errorf("logs of two runs: %q", got)
	}
	d.mustDocker("rm", "again")
}

// TestRunRmOfAContainerThatCannotStart: a start refused before the runtime runs (a user the
// image lacks) still ends `run --rm` with docker's message and removes the container.
func TestRunRmOfAContainerThatCannotStart(t *testing.T) {
	d := withBusybox(t)
	for _, prog := range clients() {
		r := d.run(prog, "run", "--rm", "-u", "nosuchuser", "busybox", "true")
		if r.code != 125 || !strings.Contains(r.stderr, "unable to find user nosuchuser") || !strings.Contains(r.stderr, "--help' for more information") {
			t.Errorf("%s run --rm -u nosuchuser: exit %d %q", prog, r.code, r.stderr)
		}
		if got := d.mustDocker("ps", "-aq"); got != "" {
			t.Errorf("%s: left %q", prog, got)
		}
	}
}

// TestContainerEnvironmentLikeDockers: what a process finds in a container, as under Docker:
// HOME from the image's passwd, the primary group among the supplementary ones, the hostname
// and the hosts and resolver files, the loopback up, and the host's namespaces on request.
func TestContainerEnvironmentLikeDockers(t *testing.T) {
	d := withBusybox(t)
	host, _ := os.Hostname()
	for _, prog := range clients() {
		check := func(want string, args ...string) {
			t.Helper()
			r := d.run(prog, append([]string{"run", "--rm"}, args...)...)
			if got := strings.TrimSpace(r.stdout); r.code != 0 || got != want {
				t.Errorf("%s run %v: exit %d, got %q, want %q (%s)", prog, args, r.code, got, want, r.stderr)
			}
		}
		check("/root uid=0(root) gid=0(root) groups=0(root),10(wheel)", "busybox", "sh", "-c", "echo $HOME $(id)")
		check("uid=1(daemon) gid=1(daemon) groups=1(daemon)", "-u", "daemon", "busybox", "id")
		check("h1\n1\nresolv\nUP", "--hostname", "h1", "busybox", "sh", "-c",
			"cat /etc/hostname; grep -c ^127.0.0.1 /etc/hosts; test -s /etc/resolv.conf && echo resolv; ip link show lo | grep -o UP | head -1")
		check("hostpid", "--pid", "host", "busybox", "sh", "-c", `test -d /proc/1 && test "$$" != 1 && echo hostpid`)
		check(host, "--uts", "host", "busybox", "hostname")
		if r := d.run(prog, "run", "--rm", "--uts", "host", "--hostname", "x", "busybox", "true"); r.code == 0 || !strings.Contains(r.stderr, "conflicting options: hostname and the UTS mode") {
			t.Errorf("%s --uts host with --hostname: exit %d %s", prog, r.code, r.stderr)
		}
	}
	// Only the namespaces of running containers stay pinned.
	if ents, _ := os.ReadDir(filepath.Join(d.dir, "exec", "netns")); len(ents) != 0 {
		t.Errorf("network namespaces left: %v", ents)
	}
}

// TestRemovingAnImageInUse: an image a container is built on is not deleted under it.
func TestRemovingAnImageInUse(t *testing.T) {
	d := withBusybox(t)
	id := d.mustDocker("create", "busybox", "sleep", "600")
	for _, prog := range clients() {
		if r := d.run(prog, "rmi", "busybox"); r.code != 1 || !strings.Contains(r.stderr, `conflict: unable to remove repository reference "busybox" (must force) - container `+id[:12]+" is using its referenced image") {
			t.Errorf("%s rmi of an image in use: exit %d %s", prog, r.code, r.stderr)
		}
	}
	d.mustDocker("start", id)
	imageID := d.mustDocker("inspect", "-f", "{{.Image}}", id)
	if r := d.run(dockerCLI, "rmi", "-f", imageID); r.code == 0 || !strings.Contains(r.stderr, "(cannot be forced) - image is being used by running container") {
		t.Errorf("rmi -f by id of an image a running container uses: exit %d %s", r.code, r.stderr)
	}
	if r := d.run(dockerCLI, "rmi", "-f", "busybox"); r.code != 0 || !strings.Contains(r.stdout, "Untagged: busybox:latest") || strings.Contains(r.stdout, "Deleted") {
		t.Errorf("rmi -f of an image in use: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	if got := d.mustDocker("info", "--format", "{{.Containers}} {{.ContainersRunning}}"); got != "1 1" {
		t.Errorf("info counts: %q", got)
	}
	d.mustDocker("rm", "-f", id)
	if r := d.run(dockerCLI, "run", "--rm", imageID, "true"); r.code != 0 {
		t.Errorf("the untagged image was lost: exit %d %s", r.code, r.stderr)
	}
	if got := d.mustDocker("info", "--format", "{{.Containers}} {{.ContainersStopped}}"); got != "0 0" {
		t.Errorf("info counts: %q", got)
	}
}

// TestDaemonKilledMidStartAdoptsTheContainer: a daemon killed after the shim started a container
// but before its record said so (simulated by putting the record back to "created") finds the
// container running when it restarts, and can stop it.
func TestDaemonKilledMidStartAdoptsTheContainer(t *testing.T) {
	d := withBusybox(t)
	id := d.mustDocker("run", "-d", "busybox", "sleep", "600")
	d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.exited
	d.exited <- nil
	record := filepath.Join(d.dataRoot, "containers", id, "container.json")
	b, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	b = []byte(strings.Replace(string(b), `"status":"running"`, `"status":"created"`, 1))
	if err := os.WriteFile(record, b, 0o600); err != nil {
		t.Fatal(err)
	}
	d2 := &daemon{t: t, dir: d.dir, sock: d.sock, pidfile: d.pidfile, dataRoot: d.dataRoot, log: d.log}
	d2.cmd = rerun(d)
	d2.start()
	defer d2.run(dockerCLI, "rm", "-f", id) // while d2 serves: the cleanups stop it before withBusybox's run
	if got := d2.mustDocker("inspect", "-f", "{{.State.Status}}", id); got != "running" {
		t.Fatalf("container after restart: %s", got)
	}
	if r := d2.run(dockerCLI, "stop", "-t", "1", id); r.code != 0 {
		t.Errorf("stop of the adopted container: exit %d %s", r.code, r.stderr)
	}
	if got := d2.mustDocker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", id); got != "exited 137" {
		t.Errorf("after stop: %s", got)
	}
}

// TestStartsWithoutTheWaitingShim kills the shim berthd keeps started ahead of need (by pid):
// the next start starts one of its own.
func TestStartsWithoutTheWaitingShim(t *testing.T) {
	d := withBusybox(t)
	waiting := func() int {
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			pid := atoiOrZero(e.Name())
			if pid == 0 {
				continue
			}
			stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
			cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			if err != nil || !strings.Contains(string(cmdline), "--args-fd") {
				continue
			}
			if f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:])); len(f) > 1 && atoiOrZero(f[1]) == d.cmd.Process.Pid {
				return pid
			}
		}
		return 0
	}
	var pid int
	eventually(5*time.Second, func() bool { pid = waiting(); return pid != 0 })
	if pid == 0 {
		t.Fatal("berthd keeps no shim waiting")
	}
	syscall.Kill(pid, syscall.SIGKILL)
	time.Sleep(100 * time.Millisecond)
	if got := d.mustDocker("run", "--rm", "busybox", "echo", "started"); got != "started" {
		t.Errorf("run after the waiting shim was killed: %q", got)
	}
}
