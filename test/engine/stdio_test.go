package engine_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// terminal is a pty whose slave is a client's stdio: the test types into the master and reads
// what the client shows, as a user at a terminal would.
type terminal struct {
	t      *testing.T
	master *os.File
	slave  *os.File
	mu     sync.Mutex
	out    bytes.Buffer
	done   chan struct{}
}

func openTerminal(t *testing.T, rows, cols uint16) *terminal {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetUint32(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols})
	term := &terminal{t: t, master: master, slave: slave, done: make(chan struct{})}
	go func() {
		defer close(term.done)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			term.mu.Lock()
			term.out.Write(buf[:n])
			term.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { master.Close(); slave.Close() })
	return term
}

// start runs a client with the terminal as its stdio and controlling terminal.
func (term *terminal) start(d *daemon, prog string, args ...string) *exec.Cmd {
	cmd := exec.Command(prog, args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+d.host(), "BERTH_HOST="+d.host(), "DOCKER_CONFIG="+d.dir)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = term.slave, term.slave, term.slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		term.t.Fatal(err)
	}
	return cmd
}

func (term *terminal) output() string {
	term.mu.Lock()
	defer term.mu.Unlock()
	return term.out.String()
}

// waitFor waits until the terminal shows want.
func (term *terminal) waitFor(want string) {
	term.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(term.output(), want) {
		if time.Now().After(deadline) {
			term.t.Fatalf("terminal never showed %q; it shows %q", want, term.output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (term *terminal) typeIn(s string) {
	if _, err := term.master.Write([]byte(s)); err != nil {
		term.t.Fatal(err)
	}
}

// exitCode waits for a client started on the terminal.
func exitCode(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("%v did not exit", cmd.Args)
		return -1
	}
}

// TestInteractiveSessionsWithBothClients drives `run -it`, the detach keys, `attach` and
// `exec -it` through a real terminal with each client: the shell sees a terminal of the user's
// size, typed input reaches it, its exit status is the client's, and ^P^Q leaves it running.
func TestInteractiveSessionsWithBothClients(t *testing.T) {
	d := withBusybox(t)
	for _, prog := range []string{dockerCLI, berthBin()} {
		name := "tty-" + filepath.Base(prog)
		term := openTerminal(t, 33, 101)
		cmd := term.start(d, prog, "run", "-it", "--name", name, "busybox", "sh")
		term.waitFor("/ # ")
		term.typeIn("stty size; tty; echo typed-$((6*7))\r")
		term.waitFor("typed-42")
		if out := term.output(); !strings.Contains(out, "33 101") || !strings.Contains(out, "/dev/pts/0") {
			t.Errorf("%s run -it: the shell's terminal: %q", prog, out)
		}
		term.typeIn("\x10\x11") // ctrl-p ctrl-q
		if code := exitCode(t, cmd); code != 0 {
			t.Errorf("%s run -it detach: exit %d: %q", prog, code, term.output())
		}
		if got := d.mustDocker("inspect", "-f", "{{.State.Running}}", name); got != "true" {
			t.Fatalf("%s: container not running after detach: %s", prog, got)
		}

		term = openTerminal(t, 40, 120)
		cmd = term.start(d, prog, "exec", "-it", name, "sh")
		term.waitFor("# ")
		term.typeIn("stty size; echo exec-$((2*3)); exit 4\r")
		term.waitFor("exec-6")
		if code := exitCode(t, cmd); code != 4 {
			t.Errorf("%s exec -it: exit %d: %q", prog, code, term.output())
		}
		if out := term.output(); !strings.Contains(out, "40 120") {
			t.Errorf("%s exec -it: terminal size not passed: %q", prog, out)
		}

		term = openTerminal(t, 25, 80)
		cmd = term.start(d, prog, "attach", name)
		term.typeIn("echo attached-$((3*3))\r")
		term.waitFor("attached-9")
		term.typeIn("exit 5\r")
		if code := exitCode(t, cmd); code != 5 {
			t.Errorf("%s attach: exit %d: %q", prog, code, term.output())
		}
		if got := d.mustDocker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", name); got != "exited 5" {
			t.Errorf("%s: after exit in attach: %s", prog, got)
		}
		d.mustDocker("rm", name)
	}
}

// TestInputAndExecWithBothClients covers -i without a terminal and docker exec's forms.
func TestInputAndExecWithBothClients(t *testing.T) {
	d := withBusybox(t)
	for _, prog := range []string{dockerCLI, berthBin()} {
		r := d.runStdin(strings.NewReader("line one\nline two\n"), prog, "run", "--rm", "-i", "busybox", "sh", "-c", "cat; echo done >&2")
		if r.code != 0 || r.stdout != "line one\nline two\n" || r.stderr != "done\n" {
			t.Errorf("%s run -i: exit %d stdout %q stderr %q", prog, r.code, r.stdout, r.stderr)
		}
		name := "exec-" + filepath.Base(prog)
		d.mustDocker("run", "-d", "-i", "--name", name, "-e", "FROM_RUN=1", "busybox", "cat")
		if r := d.run(prog, "exec", name, "sh", "-c", "echo out $FROM_RUN; echo err >&2; exit 6"); r.code != 6 || r.stdout != "out 1\n" || r.stderr != "err\n" {
			t.Errorf("%s exec: exit %d stdout %q stderr %q", prog, r.code, r.stdout, r.stderr)
		}
		if r := d.runStdin(strings.NewReader("to exec\n"), prog, "exec", "-i", name, "cat"); r.code != 0 || r.stdout != "to exec\n" {
			t.Errorf("%s exec -i: exit %d stdout %q stderr %q", prog, r.code, r.stdout, r.stderr)
		}
		if r := d.run(prog, "exec", "-u", "1000:1000", "-w", "/tmp", "-e", "X=y", name, "sh", "-c", "id -u; id -g; pwd; echo $X"); r.stdout != "1000\n1000\n/tmp\ny\n" {
			t.Errorf("%s exec -u -w -e: %q %s", prog, r.stdout, r.stderr)
		}
		if r := d.run(prog, "exec", name, "/no/such/cmd"); r.code != 127 || !strings.Contains(r.stdout+r.stderr, "no such file or directory") {
			t.Errorf("%s exec of a missing command: exit %d %q %q", prog, r.code, r.stdout, r.stderr)
		}
		if r := d.run(prog, "exec", "-d", name, "sh", "-c", "echo detached > /tmp/marker"); r.code != 0 {
			t.Errorf("%s exec -d: exit %d %s", prog, r.code, r.stderr)
		}
		deadline := time.Now().Add(10 * time.Second)
		for d.run(dockerCLI, "exec", name, "cat", "/tmp/marker").stdout != "detached\n" && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if r := d.run(dockerCLI, "exec", name, "cat", "/tmp/marker"); r.stdout != "detached\n" {
			t.Errorf("%s exec -d did not run: %q %s", prog, r.stdout, r.stderr)
		}
		d.mustDocker("stop", "-t", "1", name)
		if r := d.run(prog, "exec", name, "true"); r.code == 0 || !strings.Contains(r.stderr, "is not running") {
			t.Errorf("%s exec in a stopped container: exit %d %s", prog, r.code, r.stderr)
		}
		d.mustDocker("rm", name)
	}
}

// TestSessionsSurviveDaemonRestart kills berthd with SIGKILL while a container runs with its
// input open; the restarted daemon execs into it and attaches to it.
func TestSessionsSurviveDaemonRestart(t *testing.T) {
	d := withBusybox(t)
	id := d.mustDocker("run", "-d", "-i", "busybox", "sh", "-c", "while read l; do echo got $l; done")
	d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.exited
	d.exited <- nil
	d2 := &daemon{t: t, dir: d.dir, sock: d.sock, pidfile: d.pidfile, dataRoot: d.dataRoot, log: d.log}
	d2.cmd = rerun(d)
	d2.start()
	defer d2.run(dockerCLI, "rm", "-f", id) // while d2 serves: the cleanups stop it before withBusybox's run
	if r := d2.run(dockerCLI, "exec", id, "echo", "exec after restart"); r.stdout != "exec after restart\n" {
		t.Errorf("exec after restart: %q %s", r.stdout, r.stderr)
	}
	term := openTerminal(t, 25, 80)
	cmd := term.start(d2, dockerCLI, "attach", id)
	time.Sleep(200 * time.Millisecond) // attached before typing: input before the attach has nowhere to go
	term.typeIn("hello\r")
	term.waitFor("got hello")
	// Without -t the client's terminal is not raw (^Q is flow control): end the client itself.
	cmd.Process.Kill()
	cmd.Wait()
	if got := d2.mustDocker("inspect", "-f", "{{.State.Running}}", id); got != "true" {
		t.Errorf("running after detach: %s", got)
	}
}

// TestSignalsReachTheContainer: a signal to an attached client goes to the container
// (--sig-proxy, on by default without a terminal), with each client.
func TestSignalsReachTheContainer(t *testing.T) {
	d := withBusybox(t)
	for _, prog := range []string{dockerCLI, berthBin()} {
		cmd := exec.Command(prog, "run", "--rm", "busybox", "sh", "-c", `trap "echo got TERM; exit 7" TERM; echo ready; sleep 100 & wait`)
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+d.host(), "BERTH_HOST="+d.host(), "DOCKER_CONFIG="+d.dir)
		var out syncBuffer
		cmd.Stdout = &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(15 * time.Second)
		for !strings.Contains(out.String(), "ready") && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		cmd.Process.Signal(syscall.SIGTERM)
		if code := exitCode(t, cmd); code != 7 || !strings.Contains(out.String(), "got TERM") {
			t.Errorf("%s: exit %d, output %q", prog, code, out.String())
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a writer goroutine and a polling reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestClientLeavingMidAttach: clients that vanish in the middle of an attach leave the daemon
// serving and the container running, its output still flowing.
func TestClientLeavingMidAttach(t *testing.T) {
	d := withBusybox(t)
	id := d.mustDocker("run", "-d", "-i", "busybox", "sh", "-c", "while true; do echo tick; sleep 0.05; done")
	for _, path := range []string{
		"/containers/" + id + "/attach?stream=1&stdout=1&stderr=1&stdin=1",
		"/containers/" + id + "/attach?stream=1&stdout=1",
	} {
		for i := 0; i < 3; i++ {
			conn, err := net.Dial("unix", d.sock)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: berth\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n", path)
			buf := make([]byte, 512)
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			if n, err := conn.Read(buf); err != nil || !strings.Contains(string(buf[:n]), "101") {
				t.Fatalf("attach: %q %v", buf[:n], err)
			}
			conn.Write([]byte("half a line"))
			conn.Close() // gone, mid-stream and mid-input
		}
	}
	if r := d.run(dockerCLI, "exec", id, "echo", "still here"); r.stdout != "still here\n" {
		t.Errorf("exec after clients left: %q %s", r.stdout, r.stderr)
	}
	if got := d.mustDocker("inspect", "-f", "{{.State.Running}}", id); got != "true" {
		t.Errorf("container after clients left: running=%s", got)
	}
	before := strings.Count(d.run(dockerCLI, "logs", id).stdout, "tick")
	time.Sleep(300 * time.Millisecond)
	if after := strings.Count(d.run(dockerCLI, "logs", id).stdout, "tick"); after <= before {
		t.Errorf("the container's output stalled after clients left: %d then %d ticks", before, after)
	}
}

// TestAttachIsAnEvent: a foreground run attaches, and /events says so.
func TestAttachIsAnEvent(t *testing.T) {
	d := withBusybox(t)
	since := strconv.FormatInt(time.Now().Add(-time.Second).Unix(), 10)
	d.must(dockerCLI, "run", "--rm", "--name", "attached", "busybox", "true")
	until := strconv.FormatInt(time.Now().Add(time.Second).Unix(), 10)
	got := d.must(dockerCLI, "events", "--since", since, "--until", until, "--filter", "event=attach", "--format", "{{.Action}} {{.Actor.Attributes.name}}")
	if got != "attach attached" {
		t.Errorf("attach events: %q", got)
	}
}
