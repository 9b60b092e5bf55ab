package engine_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fails runs a client expecting a failure whose stderr holds want.
func (d *daemon) fails(want string, prog string, args ...string) {
	d.t.Helper()
	r := d.run(prog, args...)
	if r.code == 0 || !strings.Contains(r.stderr, want) {
		d.t.Errorf("%s %v: exit %d, stderr %q; want a failure saying %q", filepath.Base(prog), args, r.code, r.stderr, want)
	}
}

// eventually polls cond for up to timeout.
func eventually(timeout time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// counterValue reads the counter a container writes to /tmp/n, through its init's root.
func counterValue(t *testing.T, d *daemon, ref string) int {
	t.Helper()
	pid := d.mustDocker("inspect", "-f", "{{.State.Pid}}", ref)
	b, err := os.ReadFile("/proc/" + pid + "/root/tmp/n")
	if err != nil {
		return -1 // not written yet
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

const counterLoop = "i=0; while true; do i=$((i+1)); echo $i > /tmp/n; sleep 0.05; done"

func TestPauseUnpause(t *testing.T) {
	d := withBusybox(t)
	for _, prog := range clients() {
		id := d.must(prog, "run", "-d", "--name", "counter", "busybox", "sh", "-c", counterLoop)
		if !eventually(5*time.Second, func() bool { return counterValue(t, d, id) > 2 }) {
			t.Fatalf("%s: the counter does not run", prog)
		}
		if got := d.must(prog, "pause", "counter"); got != "counter" {
			t.Errorf("%s pause printed %q", prog, got)
		}
		state, _ := os.ReadFile("/sys/fs/cgroup/freezer/berth/" + id + "/freezer.state")
		if strings.TrimSpace(string(state)) != "FROZEN" {
			t.Errorf("%s: freezer.state %q after pause", prog, state)
		}
		before := counterValue(t, d, id)
		time.Sleep(500 * time.Millisecond)
		if after := counterValue(t, d, id); after != before {
			t.Errorf("%s: a paused container kept counting (%d -> %d)", prog, before, after)
		}
		if got := d.must(prog, "inspect", "-f", "{{.State.Status}} {{.State.Paused}} {{.State.Running}}", "counter"); got != "paused true true" {
			t.Errorf("%s inspect of a paused container: %q", prog, got)
		}
		if got := d.must(prog, "ps"); !strings.Contains(got, " Up ") || !strings.Contains(got, " (Paused) ") {
			t.Errorf("%s ps of a paused container: %q", prog, got)
		}
		d.fails("Container "+id+" is already paused", prog, "pause", "counter")
		d.must(prog, "unpause", "counter")
		if !eventually(3*time.Second, func() bool { return counterValue(t, d, id) > before }) {
			t.Errorf("%s: the counter did not resume after unpause", prog)
		}
		d.fails("Container "+id+" is not paused", prog, "unpause", "counter")

		// A paused container is stopped and removed as in Docker: thawed first, then killed.
		d.must(prog, "pause", "counter")
		start := time.Now()
		d.must(prog, "stop", "-t", "1", "counter")
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("%s: stop of a paused container took %v", prog, took)
		}
		if got := d.must(prog, "inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "counter"); got != "exited false" {
			t.Errorf("%s: after stop of a paused container: %q", prog, got)
		}
		d.fails("container "+id+" is not running", prog, "pause", "counter")
		d.mustDocker("start", "counter") // berth's start comes with the run work
		d.must(prog, "pause", "counter")
		d.must(prog, "rm", "-f", "counter")
		if _, err := os.Stat("/sys/fs/cgroup/freezer/berth/" + id); err == nil {
			t.Errorf("%s: rm -f of a paused container left its cgroup", prog)
		}
	}
}

func TestRenameAndRestart(t *testing.T) {
	d := withBusybox(t)
	for _, prog := range clients() {
		d.must(prog, "run", "-d", "--name", "before", "busybox", "sh", "-c", "echo started; sleep 1000")
		d.mustDocker("create", "--name", "other", "busybox") // berth's create comes with the run work
		d.fails(`The container name "/other" is already in use`, prog, "rename", "before", "other")
		d.fails("Renaming a container with the same name as its current name", prog, "rename", "before", "before")
		if got := d.must(prog, "rename", "before", "after"); got != "" {
			t.Errorf("%s rename printed %q", prog, got)
		}
		d.fails("No such container: before", prog, "inspect", "--type", "container", "before")
		started := d.must(prog, "inspect", "-f", "{{.State.StartedAt}}", "after")
		if got := d.must(prog, "restart", "-t", "1", "after"); got != "after" {
			t.Errorf("%s restart printed %q", prog, got)
		}
		if again := d.must(prog, "inspect", "-f", "{{.State.StartedAt}} {{.State.Status}} {{.Name}}", "after"); strings.HasPrefix(again, started) || !strings.HasSuffix(again, " running /after") {
			t.Errorf("%s: after restart %q (started before at %s)", prog, again, started)
		}
		if !eventually(3*time.Second, func() bool { return d.must(prog, "logs", "after") == "started\nstarted" }) {
			t.Errorf("%s: logs after restart %q, want both runs", prog, d.must(prog, "logs", "after"))
		}
		// The old name is free again.
		d.mustDocker("create", "--name", "before", "busybox")
		d.must(prog, "rm", "-f", "after", "before", "other")
	}
}

func TestTop(t *testing.T) {
	d := withBusybox(t)
	for _, prog := range clients() {
		d.must(prog, "run", "-d", "--name", "tops", "busybox", "sh", "-c", "sleep 1000 & sleep 999")
		pid := d.must(prog, "inspect", "-f", "{{.State.Pid}}", "tops")
		var out string
		eventually(3*time.Second, func() bool {
			out = d.must(prog, "top", "tops")
			return strings.Contains(out, "sleep 1000")
		})
		lines := strings.Split(out, "\n")
		if len(lines) != 3 || !strings.HasPrefix(lines[0], "UID") || !strings.Contains(lines[0], "CMD") {
			t.Fatalf("%s top: %q", prog, out)
		}
		found := false
		for _, l := range lines[1:] {
			f := strings.Fields(l)
			found = found || f[1] == pid && strings.Join(f[7:], " ") == "sleep 999"
		}
		if !found || !strings.Contains(out, "sleep 1000") {
			t.Errorf("%s top lacks the container's processes (init pid %s):\n%s", prog, pid, out)
		}
		if strings.Contains(out, "berthd") || strings.Contains(out, "berth-shim") {
			t.Errorf("%s top shows host processes:\n%s", prog, out)
		}
		if got := d.must(prog, "top", "tops", "-o", "pid,comm"); !strings.HasPrefix(got, "PID") || strings.Count(got, "\n") != 2 || !strings.Contains(got, "sleep") {
			t.Errorf("%s top with ps options: %q", prog, got)
		}
		d.must(prog, "stop", "-t", "0", "tops")
		d.fails("is not running", prog, "top", "tops")
		d.must(prog, "rm", "tops")
	}
}

func TestStats(t *testing.T) {
	d := withBusybox(t)
	id := d.mustDocker("run", "-d", "--name", "limited", "--memory", "64m", "busybox", "sh", "-c", "sleep 1000")
	d.mustDocker("run", "-d", "--name", "unlimited", "busybox", "sh", "-c", "while true; do :; done")
	d.mustDocker("create", "--name", "stopped", "busybox")
	for _, prog := range clients() {
		out := d.must(prog, "stats", "--no-stream")
		lines := strings.Split(out, "\n")
		if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "CONTAINER ID NAME CPU % MEM USAGE / LIMIT MEM % NET I/O BLOCK I/O PIDS" {
			t.Fatalf("%s stats --no-stream:\n%s", prog, out)
		}
		rows := map[string][]string{}
		for _, l := range lines[1:] {
			f := strings.Fields(l)
			rows[f[1]] = f
		}
		// limited: ID NAME CPU% USAGE / LIMIT MEM% NET(3) BLOCK(3) PIDS
		lim := rows["limited"]
		if len(lim) != 14 || lim[0] != id[:12] || lim[5] != "64MiB" || lim[3] == "0B" || lim[13] != "1" {
			t.Errorf("%s stats of the limited container: %q", prog, lim)
		}
		busy := rows["unlimited"]
		if len(busy) != 14 || busy[5] == "64MiB" || busy[5] == "0B" {
			t.Errorf("%s stats of the unlimited container: %q", prog, busy)
		} else if cpu, _ := strconv.ParseFloat(strings.TrimSuffix(busy[2], "%"), 64); cpu < 20 || cpu > 210 {
			t.Errorf("%s: a busy loop shows CPU %s", prog, busy[2])
		}
		got := d.must(prog, "stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}", "limited")
		if !strings.HasPrefix(got, "limited ") || !strings.HasSuffix(got, " / 64MiB") {
			t.Errorf("%s stats --format: %q", prog, got)
		}
		if got := d.must(prog, "stats", "--no-stream", "--all", "--format", "{{.Name}}"); len(strings.Fields(got)) != 3 || !strings.Contains(got, "stopped") {
			t.Errorf("%s stats --all: %q", prog, got)
		}
	}
	// The stream: one sample a second, each with the previous as precpu.
	resp, err := d.httpClient().Get("http://berth/containers/limited/stats?stream=true")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	var first, second struct {
		Read        time.Time `json:"read"`
		PreRead     time.Time `json:"preread"`
		MemoryStats struct {
			Usage, Limit uint64
		} `json:"memory_stats"`
		CPUStats struct {
			CPUUsage struct {
				TotalUsage uint64 `json:"total_usage"`
			} `json:"cpu_usage"`
			SystemUsage uint64 `json:"system_cpu_usage"`
		} `json:"cpu_stats"`
		PreCPUStats struct {
			SystemUsage uint64 `json:"system_cpu_usage"`
		} `json:"precpu_stats"`
		PidsStats struct {
			Current uint64 `json:"current"`
		} `json:"pids_stats"`
	}
	if err := dec.Decode(&first); err != nil {
		t.Fatal(err)
	}
	if err := dec.Decode(&second); err != nil {
		t.Fatal(err)
	}
	if gap := second.Read.Sub(first.Read); gap < 900*time.Millisecond || gap > 3*time.Second {
		t.Errorf("stream samples %v apart", gap)
	}
	if !first.PreRead.IsZero() || !second.PreRead.Equal(first.Read) || second.PreCPUStats.SystemUsage != first.CPUStats.SystemUsage {
		t.Errorf("stream precpu: first preread %v, second preread %v (first read %v)", first.PreRead, second.PreRead, first.Read)
	}
	if second.MemoryStats.Limit != 64<<20 || second.MemoryStats.Usage == 0 || second.PidsStats.Current != 1 || second.CPUStats.SystemUsage == 0 {
		t.Errorf("stream sample: %+v", second)
	}
}

func TestUpdate(t *testing.T) {
	d := withBusybox(t)
	for _, prog := range clients() {
		id := d.mustDocker("run", "-d", "--name", "upd", "--memory", "64m", "busybox", "sleep", "1000")
		cg := func(ctl, file string) string {
			b, _ := os.ReadFile(filepath.Join("/sys/fs/cgroup", ctl, "berth", id, file))
			return strings.TrimSpace(string(b))
		}
		devices := cg("devices", "devices.list")
		if got := d.must(prog, "update", "--memory", "128m", "--memory-swap", "256m", "--pids-limit", "30", "--cpus", "0.5", "upd"); got != "upd" {
			t.Errorf("%s update printed %q", prog, got)
		}
		if got := cg("memory", "memory.limit_in_bytes"); got != "134217728" {
			t.Errorf("%s: memory.limit_in_bytes %s after update", prog, got)
		}
		if got := cg("memory", "memory.memsw.limit_in_bytes"); got != "268435456" && got != "" {
			t.Errorf("%s: memory.memsw.limit_in_bytes %s after update", prog, got)
		}
		if got := cg("pids", "pids.max"); got != "30" {
			t.Errorf("%s: pids.max %s after update", prog, got)
		}
		if got := cg("cpu", "cpu.cfs_quota_us"); got != "50000" {
			t.Errorf("%s: cpu.cfs_quota_us %s after update", prog, got)
		}
		if got := cg("devices", "devices.list"); got != devices {
			t.Errorf("%s: update rewrote the device rules:\n%s\nwas\n%s", prog, got, devices)
		}
		if got := d.must(prog, "inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.PidsLimit}} {{.HostConfig.NanoCPUs}}", "upd"); got != "134217728 268435456 30 500000000" {
			t.Errorf("%s: HostConfig after update %q", prog, got)
		}
		if got := d.must(prog, "stats", "--no-stream", "--format", "{{.MemUsage}}", "upd"); !strings.HasSuffix(got, "/ 128MiB") {
			t.Errorf("%s: stats after update %q", prog, got)
		}
		d.fails("Minimum memory limit allowed is 6MB", prog, "update", "--memory", "1m", "upd")
		d.fails("Memory limit should be smaller than already set memoryswap limit", prog, "update", "--memory", "512m", "upd")
		d.must(prog, "update", "--restart", "on-failure:3", "upd")
		if got := d.must(prog, "inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}", "upd"); got != "on-failure:3" {
			t.Errorf("%s: restart policy after update %q", prog, got)
		}
		d.must(prog, "rm", "-f", "upd")
	}
}

func TestPort(t *testing.T) {
	d := withBusybox(t)
	d.mustDocker("run", "-d", "--name", "noports", "busybox", "sleep", "1000")
	for _, prog := range clients() {
		if got := d.must(prog, "port", "noports"); got != "" {
			t.Errorf("%s port: %q", prog, got)
		}
		d.fails("No public port '80' published for noports", prog, "port", "noports", "80")
		d.fails("No public port '80/udp' published for noports", prog, "port", "noports", "80/udp")
	}
}

func TestRestartPolicies(t *testing.T) {
	d := withBusybox(t)
	for _, prog := range clients() {
		// berth run's --restart comes with the run work: created with docker, driven with prog.
		d.mustDocker("run", "-d", "--name", "flaky", "--restart", "on-failure:2", "busybox", "sh", "-c", "echo run; exit 3")
		if !eventually(10*time.Second, func() bool {
			return d.must(prog, "inspect", "-f", "{{.RestartCount}} {{.State.Status}}", "flaky") == "2 exited"
		}) {
			t.Errorf("%s on-failure:2: %s", prog, d.must(prog, "inspect", "-f", "{{.RestartCount}} {{.State.Status}}", "flaky"))
		}
		time.Sleep(time.Second) // no third restart
		if got := d.must(prog, "inspect", "-f", "{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}", "flaky"); got != "2 exited 3" {
			t.Errorf("%s on-failure:2 restarted again: %q", prog, got)
		}
		if got := d.must(prog, "logs", "flaky"); got != "run\nrun\nrun" {
			t.Errorf("%s on-failure:2 logs %q", prog, got)
		}
		// A manual start resets the count: the policy gets its two restarts again.
		d.mustDocker("start", "flaky")
		if !eventually(10*time.Second, func() bool {
			return d.must(prog, "logs", "flaky") == strings.Repeat("run\n", 5)+"run"
		}) {
			t.Errorf("%s: after a manual start, logs %q, %s\nberthd: %s", prog, d.must(prog, "logs", "flaky"),
				d.must(prog, "inspect", "-f", "{{.RestartCount}} {{.State.Status}} {{.State.Error}}", "flaky"), d.log)
		}
		d.must(prog, "rm", "-f", "flaky")

		// always: the backoff shows as "Restarting (1) ..." and a manual stop ends it.
		d.mustDocker("run", "-d", "--name", "looper", "--restart", "always", "busybox", "sh", "-c", "exit 1")
		if !eventually(10*time.Second, func() bool {
			return strings.Contains(d.must(prog, "ps"), " Restarting (1) ")
		}) && !eventually(10*time.Second, func() bool {
			return d.must(prog, "inspect", "-f", "{{.State.Restarting}}", "looper") == "true"
		}) {
			t.Errorf("%s: an always container exiting 1 never showed as restarting", prog)
		}
		d.must(prog, "stop", "looper")
		count := d.must(prog, "inspect", "-f", "{{.RestartCount}} {{.State.Status}}", "looper")
		time.Sleep(1500 * time.Millisecond)
		if again := d.must(prog, "inspect", "-f", "{{.RestartCount}} {{.State.Status}}", "looper"); again != count || !strings.HasSuffix(again, " exited") {
			t.Errorf("%s: an always container restarted after a manual stop: %q then %q", prog, count, again)
		}
		d.must(prog, "rm", "-f", "looper")
	}
}

func TestRestartPolicyAcrossDaemonRestart(t *testing.T) {
	d := withBusybox(t)
	d.mustDocker("run", "-d", "--name", "always", "--restart", "always", "busybox", "sleep", "1000")
	d.mustDocker("run", "-d", "--name", "unless", "--restart", "unless-stopped", "busybox", "sleep", "1000")
	d.mustDocker("run", "-d", "--name", "never", "busybox", "sleep", "1000")
	for _, name := range []string{"always", "unless", "never"} {
		d.mustDocker("stop", "-t", "0", name)
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-d.exited; err != nil {
		t.Fatalf("berthd exited with %v", err)
	}
	d.exited <- nil
	d2 := &daemon{t: t, dir: d.dir, sock: d.sock, pidfile: d.pidfile, dataRoot: d.dataRoot, log: d.log}
	d2.cmd = rerun(d)
	d2.start()
	t.Cleanup(func() { // before d2 stops (cleanups run last-in first-out)
		for _, id := range strings.Fields(d2.run(dockerCLI, "ps", "-aq").stdout) {
			d2.run(dockerCLI, "rm", "-f", id)
		}
	})
	if !eventually(10*time.Second, func() bool { return d2.mustDocker("inspect", "-f", "{{.State.Status}}", "always") == "running" }) {
		t.Errorf("an always container was not started with the daemon")
	}
	time.Sleep(500 * time.Millisecond)
	for _, name := range []string{"unless", "never"} {
		if got := d2.mustDocker("inspect", "-f", "{{.State.Status}}", name); got != "exited" {
			t.Errorf("%s (stopped by hand) is %s after the daemon restarted", name, got)
		}
	}
}

// unixNanoTime is a timestamp as `events --since/--until` take it.
func unixNanoTime(t time.Time) string { return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond()) }

func TestEvents(t *testing.T) {
	d := withBusybox(t)
	for _, prog := range clients() {
		since := time.Now()
		id := d.mustDocker("run", "-d", "--name", "evented", "--label", "team=ops", "busybox", "sh", "-c", "exit 4")
		d.must(prog, "wait", "evented")
		d.must(prog, "run", "-d", "--name", "bystander", "busybox", "true")
		d.must(prog, "wait", "bystander")
		d.must(prog, "rm", "evented", "bystander")
		d.must(prog, "tag", "busybox", "busybox:evented")
		until := unixNanoTime(time.Now())

		out := d.must(prog, "events", "--since", unixNanoTime(since), "--until", until, "--filter", "container=evented",
			"--format", "{{.Type}} {{.Action}} {{.Actor.ID}} {{.Actor.Attributes.name}}")
		want := fmt.Sprintf("container create %[1]s evented\ncontainer start %[1]s evented\ncontainer die %[1]s evented\ncontainer destroy %[1]s evented", id)
		// attach may appear (docker run -d does not attach; berth may); compare without it.
		if got := dropAction(out, "attach"); got != want {
			t.Errorf("%s events --filter container=evented:\n%s\nwant\n%s", prog, got, want)
		}
		out = d.must(prog, "events", "--since", unixNanoTime(since), "--until", until, "--filter", "event=die", "--filter", "label=team=ops")
		if lines := strings.Split(out, "\n"); len(lines) != 1 || !strings.Contains(out, " container die "+id+" (") ||
			!strings.Contains(out, "exitCode=4") || !strings.Contains(out, "team=ops") || !strings.Contains(out, "image=busybox") {
			t.Errorf("%s events --filter event=die --filter label=team=ops:\n%s", prog, out)
		}
		out = d.must(prog, "events", "--since", unixNanoTime(since), "--until", until, "--filter", "type=image", "--format", "{{.Action}} {{.Actor.Attributes.name}}")
		if out != "tag busybox:evented" {
			t.Errorf("%s image events: %q", prog, out)
		}
		d.must(prog, "rmi", "busybox:evented")

		// Live: a stream started before the container sees its life.
		liveUntil := time.Now().Add(6 * time.Second)
		cmd := exec.Command(prog, "events", "--until", unixNanoTime(liveUntil), "--filter", "type=container", "--format", "{{.Action}} {{.Actor.Attributes.name}}")
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+d.host(), "BERTH_HOST="+d.host(), "DOCKER_CONFIG="+d.dir)
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
		d.must(prog, "run", "-d", "--name", "live", "busybox", "sh", "-c", "exit 0")
		d.must(prog, "wait", "live")
		d.must(prog, "rm", "live")
		var seen []string
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			seen = append(seen, sc.Text())
		}
		cmd.Wait()
		if got := dropAction(strings.Join(seen, "\n"), "attach"); got != "create live\nstart live\ndie live\ndestroy live" {
			t.Errorf("%s live events:\n%s", prog, got)
		}
	}
	if r := d.run(dockerCLI, "events", "--since", "2000000000", "--until", "1000000000"); r.code == 0 || !strings.Contains(r.stderr, "cannot be after `until` time") {
		t.Errorf("since after until: exit %d %s", r.code, r.stderr)
	}
}

// dropAction removes the lines of one action from events output.
func dropAction(out, action string) string {
	var kept []string
	for _, l := range strings.Split(out, "\n") {
		if !strings.Contains(" "+l+" ", " "+action+" ") {
			kept = append(kept, l)
		}
	}
	return strings.Join(kept, "\n")
}
