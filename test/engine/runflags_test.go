package engine_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// ensureInit puts berth-init beside berthd when the test built its own binaries.
func ensureInit(t *testing.T) {
	t.Helper()
	p := filepath.Join(binDir, "berth-init")
	if _, err := os.Stat(p); err == nil {
		return
	}
	_, file, _, _ := runtimeCaller()
	cmd := exec.Command("go", "build", "-o", p, "./cmd/berth-init")
	cmd.Dir = filepath.Join(filepath.Dir(file), "..", "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build berth-init: %v\n%s", err, out)
	}
}

func TestRunFlagsBindAndTmpfsMounts(t *testing.T) {
	d := withBusybox(t)
	host := t.TempDir()
	os.WriteFile(filepath.Join(host, "f"), []byte("from host\n"), 0o644)
	for _, c := range clients() {
		name := filepath.Base(c)
		// -v read-only: readable, not writable.
		r := d.run(c, "run", "--rm", "-v", host+":/h:ro", "busybox", "sh", "-c", "cat /h/f; touch /h/x")
		if r.code == 0 || r.stdout != "from host\n" || !strings.Contains(r.stderr, "Read-only file system") {
			t.Errorf("%s -v ro: exit %d %q %q", name, r.code, r.stdout, r.stderr)
		}
		// -v read-write: the write shows on the host.
		d.must(c, "run", "--rm", "-v", host+":/h", "busybox", "sh", "-c", "echo "+name+" > /h/w")
		if b, _ := os.ReadFile(filepath.Join(host, "w")); string(b) != name+"\n" {
			t.Errorf("%s -v rw: host sees %q", name, b)
		}
		// -v makes a missing host directory, as Docker does.
		missing := filepath.Join(host, "made-by-"+name)
		d.must(c, "run", "--rm", "-v", missing+":/m", "busybox", "true")
		if fi, err := os.Stat(missing); err != nil || !fi.IsDir() {
			t.Errorf("%s -v did not create %s: %v", name, missing, err)
		}
		// --mount type=bind, readonly.
		r = d.run(c, "run", "--rm", "--mount", "type=bind,source="+host+",target=/m,readonly", "busybox", "sh", "-c", "cat /m/f; touch /m/x")
		if r.code == 0 || r.stdout != "from host\n" {
			t.Errorf("%s --mount bind ro: exit %d %q %q", name, r.code, r.stdout, r.stderr)
		}
		// --tmpfs with a size, and --mount type=tmpfs.
		out := d.must(c, "run", "--rm", "--tmpfs", "/t:size=1m,exec", "--mount", "type=tmpfs,dst=/t2,tmpfs-size=2m,tmpfs-mode=1770",
			"busybox", "sh", "-c", "grep -E ' /t2? ' /proc/mounts; stat -c %a /t2")
		if !strings.Contains(out, "tmpfs /t tmpfs rw,nosuid,nodev,relatime,size=1024k") ||
			!strings.Contains(out, "tmpfs /t2 tmpfs rw,nosuid,nodev,noexec,relatime,size=2048k,mode=1770") || !strings.HasSuffix(out, "1770") {
			t.Errorf("%s tmpfs mounts:\n%s", name, out)
		}
	}
	// inspect .Mounts as Docker shows them (--tmpfs is not listed).
	id := d.must(dockerCLI, "create", "-v", host+":/a:ro", "--mount", "type=bind,src="+host+",dst=/b,bind-propagation=rslave",
		"--mount", "type=tmpfs,dst=/c", "--tmpfs", "/d", "busybox")
	for _, c := range clients() {
		var mounts []map[string]any
		if err := json.Unmarshal([]byte(d.must(c, "inspect", "-f", "{{json .Mounts}}", id)), &mounts); err != nil {
			t.Fatal(err)
		}
		got, _ := json.Marshal(mounts)
		want := `[{"Destination":"/a","Mode":"ro","Propagation":"rprivate","RW":false,"Source":"` + host + `","Type":"bind"},` +
			`{"Destination":"/b","Mode":"","Propagation":"rslave","RW":true,"Source":"` + host + `","Type":"bind"},` +
			`{"Destination":"/c","Mode":"","Propagation":"","RW":true,"Source":"","Type":"tmpfs"}]`
		if string(got) != want {
			t.Errorf("%s inspect .Mounts:\n got %s\nwant %s", filepath.Base(c), got, want)
		}
	}
}

func TestRunFlagsResources(t *testing.T) {
	d := withBusybox(t)
	for _, c := range clients() {
		out := d.must(c, "run", "--rm", "-m", "64m", "--cpus", "1.5", "--pids-limit", "33", "--cpu-shares", "512", "--shm-size", "8m", "busybox", "sh", "-c",
			"cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us"+
				" /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.shares; df -k /dev/shm | tail -1")
		f := strings.Fields(out)
		if len(f) < 7 || f[0] != "67108864" || f[1] != "150000" || f[2] != "100000" || f[3] != "33" || f[4] != "512" || f[6] != "8192" {
			t.Errorf("%s resources inside: %q", filepath.Base(c), out)
		}
	}
	// Seen from the host, and recorded as dockerd records it (swap twice the memory, shm default).
	id := d.must(dockerCLI, "run", "-d", "-m", "32m", "busybox", "sleep", "100")
	if lim, _ := os.ReadFile("/sys/fs/cgroup/memory/berth/" + id + "/memory.limit_in_bytes"); strings.TrimSpace(string(lim)) != "33554432" {
		t.Errorf("host memory.limit_in_bytes %q", lim)
	}
	for _, c := range clients() {
		if got := d.must(c, "inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.ShmSize}}", id); got != "33554432 67108864 67108864" {
			t.Errorf("%s inspect resources: %q", filepath.Base(c), got)
		}
	}
	d.must(dockerCLI, "rm", "-f", id)
}

// capEff reads a process's effective capabilities from /proc/<pid>/status text.
func capField(status, field string) string {
	for _, l := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func TestRunFlagsCapabilitiesPrivilegedReadOnly(t *testing.T) {
	d := withBusybox(t)
	daemonStatus, err := os.ReadFile("/proc/" + strconv.Itoa(d.cmd.Process.Pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	bounding := capField(string(daemonStatus), "CapBnd")
	for _, c := range clients() {
		name := filepath.Base(c)
		eff := func(args ...string) string {
			return capField(d.must(c, append(append([]string{"run", "--rm"}, args...), "busybox", "cat", "/proc/self/status")...), "CapEff")
		}
		if got := eff("--cap-drop", "ALL"); got != "0000000000000000" {
			t.Errorf("%s --cap-drop ALL: %s", name, got)
		}
		// CAP_NET_ADMIN is 12; either spelling, any case.
		if got := eff("--cap-drop", "all", "--cap-add", "net_admin"); got != "0000000000001000" {
			t.Errorf("%s --cap-drop all --cap-add net_admin: %s", name, got)
		}
		if got := eff("--cap-drop", "ALL", "--cap-add", "CAP_KILL"); got != "0000000000000020" {
			t.Errorf("%s --cap-add CAP_KILL: %s", name, got)
		}
		if got := eff("--privileged"); got != bounding {
			t.Errorf("%s --privileged CapEff %s, daemon's bounding set %s", name, got, bounding)
		}
		// --privileged shows the host's devices; the default /dev has only the standard few.
		plain := strings.Fields(d.must(c, "run", "--rm", "busybox", "ls", "/dev"))
		priv := strings.Fields(d.must(c, "run", "--rm", "--privileged", "busybox", "ls", "/dev"))
		if len(priv) <= len(plain) || !contains(priv, "kmsg") || contains(plain, "kmsg") {
			t.Errorf("%s devices: plain %v, privileged %v", name, plain, priv)
		}
		r := d.run(c, "run", "--rm", "--read-only", "busybox", "touch", "/x")
		if r.code != 1 || !strings.Contains(r.stderr, "Read-only file system") {
			t.Errorf("%s --read-only: exit %d %s", name, r.code, r.stderr)
		}
		// A tmpfs stays writable on a read-only root.
		d.must(c, "run", "--rm", "--read-only", "--tmpfs", "/scratch", "busybox", "touch", "/scratch/x")
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestRunFlagsNetworkModes(t *testing.T) {
	d := withBusybox(t)
	ents, err := os.ReadDir("/sys/class/net")
	if err != nil {
		t.Fatal(err)
	}
	// Containers' veths come and go (the kernel deletes them with their namespace, a moment
	// after a removal): the host's other interfaces are compared.
	lasting := func(names []string) []string {
		return slices.DeleteFunc(names, func(n string) bool { return strings.HasPrefix(n, "veth") })
	}
	var hostIfs []string
	for _, e := range ents {
		hostIfs = append(hostIfs, e.Name())
	}
	hostIfs = lasting(hostIfs)
	sort.Strings(hostIfs)
	hostname, _ := os.Hostname()
	for _, c := range clients() {
		name := filepath.Base(c)
		for mode, want := range map[string]string{"none": "lo", "bridge": "eth0\nlo"} {
			if got := d.must(c, "run", "--rm", "--network", mode, "busybox", "ls", "/sys/class/net"); got != want {
				t.Errorf("%s --network %s: %q", name, mode, got)
			}
		}
		got := strings.Fields(d.must(c, "run", "--rm", "--network", "host", "busybox", "sh", "-c", "ls /sys/class/net; hostname"))
		if len(got) == 0 || got[len(got)-1] != hostname || strings.Join(lasting(got[:len(got)-1]), " ") != strings.Join(hostIfs, " ") {
			t.Errorf("%s --network host: %v, host has %v and is %s", name, got, hostIfs, hostname)
		}
		if got := d.must(c, "run", "--rm", "--net", "none", "busybox", "ls", "/sys/class/net"); got != "lo" {
			t.Errorf("%s --net none: %q", name, got)
		}
	}
}

func TestRunFlagsInit(t *testing.T) {
	ensureInit(t)
	d := withBusybox(t)
	for _, c := range clients() {
		name := filepath.Base(c)
		r := d.run(c, "run", "--rm", "--init", "busybox", "sh", "-c", `tr '\0' ' ' < /proc/1/cmdline; exit 7`)
		if r.code != 7 || strings.TrimSpace(r.stdout) != `/sbin/docker-init -- sh -c tr '\0' ' ' < /proc/1/cmdline; exit 7` {
			t.Errorf("%s --init pid 1: exit %d %q %s", name, r.code, r.stdout, r.stderr)
		}
		// A signal to pid 1 reaches the command, which handles it.
		r = d.run(c, "run", "--rm", "--init", "busybox", "sh", "-c", `trap "exit 42" TERM; kill -TERM 1; sleep 5 & wait`)
		if r.code != 42 {
			t.Errorf("%s --init forwarded TERM: exit %d %s", name, r.code, r.stderr)
		}
		// Killed by a signal: 128+n.
		if r = d.run(c, "run", "--rm", "--init", "busybox", "sh", "-c", `kill -KILL $$`); r.code != 137 {
			t.Errorf("%s --init child killed: exit %d %s", name, r.code, r.stderr)
		}
		// Orphans are reaped: no zombie is left once its parent is gone.
		out := d.must(c, "run", "--rm", "--init", "busybox", "sh", "-c",
			`sh -c 'sleep 0.2 & exit 0'; sleep 1; grep -l 'State:.*Z' /proc/[0-9]*/status || echo none`)
		if out != "none" {
			t.Errorf("%s --init left zombies: %s", name, out)
		}
		// Without --init the command is pid 1.
		if got := d.must(c, "run", "--rm", "busybox", "cat", "/proc/1/comm"); got != "cat" {
			t.Errorf("%s without --init, pid 1 is %q", name, got)
		}
	}
	id := d.must(berthBin(), "create", "--init", "busybox")
	if got := d.must(dockerCLI, "inspect", "-f", "{{.HostConfig.Init}}", id); got != "true" {
		t.Errorf("HostConfig.Init %q", got)
	}
}

func TestRunFlagsRecordedInInspect(t *testing.T) {
	d := withBusybox(t)
	dir := t.TempDir()
	envFile, labelFile := filepath.Join(dir, "env"), filepath.Join(dir, "labels")
	os.WriteFile(envFile, []byte("# comment\nFROM_FILE=1\n\n  SPACED=a b\nOVERRIDDEN=file\n"), 0o644)
	os.WriteFile(labelFile, []byte("team=core\n"), 0o644)
	for _, c := range clients() {
		name := filepath.Base(c)
		cid := filepath.Join(dir, name+".cid")
		id := d.must(c, "create", "--cidfile", cid, "--stop-signal", "SIGUSR1", "--stop-timeout", "3", "-l", "a=b", "--label", "flag",
			"--label-file", labelFile, "--restart", "on-failure:3", "--env-file", envFile, "-e", "OVERRIDDEN=flag", "-h", "box",
			"--domainname", "example.org", "-w", "/tmp", "-u", "1000:1000", "--ulimit", "nofile=100:200", "--sysctl", "net.ipv4.ip_forward=1",
			"busybox", "sh", "-c", "env; ulimit -n; hostname; pwd; id -u")
		if b, _ := os.ReadFile(cid); string(b) != id || len(id) != 64 {
			t.Errorf("%s --cidfile holds %q, create printed %q", name, b, id)
		}
		got := d.must(dockerCLI, "inspect", "-f", "{{.Config.StopSignal}} {{.Config.StopTimeout}} {{json .Config.Labels}} "+
			"{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}} {{.Config.Domainname}} {{json .HostConfig.Sysctls}}", id)
		if want := `SIGUSR1 3 {"a":"b","flag":"","team":"core"} on-failure:3 example.org {"net.ipv4.ip_forward":"1"}`; got != want {
			t.Errorf("%s inspect:\n got %s\nwant %s", name, got, want)
		}
		r := d.run(dockerCLI, "start", "-a", id) // berth has no start command yet
		for _, want := range []string{"FROM_FILE=1\n", "SPACED=a b\n", "OVERRIDDEN=flag\n", "\n100\nbox\n/tmp\n1000\n"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("%s run output lacks %q:\n%s%s", name, want, r.stdout, r.stderr)
			}
		}
		d.must(c, "rm", id)
	}
	// -a stdout: stderr is not attached.
	for _, c := range clients() {
		r := d.run(c, "run", "--rm", "-a", "stdout", "busybox", "sh", "-c", "echo out; echo err >&2")
		if r.code != 0 || r.stdout != "out\n" || r.stderr != "" {
			t.Errorf("%s -a stdout: exit %d %q %q", filepath.Base(c), r.code, r.stdout, r.stderr)
		}
	}
}

func TestRunFlagsBadInput(t *testing.T) {
	d := withBusybox(t)
	dir := t.TempDir()
	existing := filepath.Join(dir, "cid")
	os.WriteFile(existing, []byte("x"), 0o644)
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"run", "--memory", "foo", "busybox"}, 125, `invalid argument "foo" for "-m, --memory" flag: invalid size: 'foo'`},
		{[]string{"run", "--cpus", "abc", "busybox"}, 125, `invalid argument "abc" for "--cpus" flag: failed to parse abc as a rational number`},
		{[]string{"run", "--mount", "type=bind,src=/x", "busybox"}, 125, `for "--mount" flag: target is required`},
		{[]string{"run", "-a", "stdnone", "busybox"}, 125, `valid streams are STDIN, STDOUT and STDERR`},
		{[]string{"run", "-m", "1k", "busybox"}, 125, "Error response from daemon: Minimum memory limit allowed is 6MB"},
		{[]string{"run", "--mount", "type=bind,src=/no/such/dir,dst=/x", "busybox"}, 125,
			`Error response from daemon: invalid mount config for type "bind": bind source path does not exist: /no/such/dir`},
		{[]string{"run", "-v", "/tmp:rel", "busybox"}, 125, `invalid volume specification: '/tmp:rel': invalid mount config for type "bind": invalid mount path: 'rel' mount path must be absolute`},
		{[]string{"run", "-v", "/tmp:/x:bogus", "busybox"}, 125, "Error response from daemon: invalid mode: bogus"},
		{[]string{"run", "-v", "_x:/x", "busybox"}, 125, `Error response from daemon: create _x: "_x" includes invalid characters for a local volume name`},
		{[]string{"run", "--cidfile", existing, "busybox"}, 125, "container ID file found, make sure the other container isn't running or delete " + existing},
		{[]string{"create", "--cidfile", existing, "busybox"}, 1, "container ID file found, make sure the other container isn't running or delete " + existing},
		{[]string{"run", "--restart", "sometimes", "busybox"}, 125,
			"Error response from daemon: invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"},
		{[]string{"run", "--restart", "on-failure:x", "busybox"}, 125, "invalid restart policy format: maximum retry count must be an integer"},
		{[]string{"run", "--rm", "--restart", "always", "busybox"}, 125, "conflicting options: cannot specify both --restart and --rm"},
		{[]string{"create", "--cap-add", "nonsense", "busybox"}, 1, `Error response from daemon: invalid CapAdd: unknown capability: "CAP_NONSENSE"`},
		{[]string{"create", "--stop-signal", "SIGNOPE", "busybox"}, 1, "Error response from daemon: Invalid signal: SIGNOPE"},
		{[]string{"create", "--env-file", "/no/such/file", "busybox"}, 125, "open /no/such/file: no such file or directory"},
	}
	for _, c := range clients() {
		for _, tc := range cases {
			r := d.run(c, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("%s %v: exit %d (want %d)\n%s\nwant %q", filepath.Base(c), tc.args, r.code, tc.code, r.stderr, tc.want)
			}
		}
	}
	if b, _ := os.ReadFile(existing); string(b) != "x" {
		t.Errorf("an existing cidfile was overwritten: %q", b)
	}
	if got := d.must(dockerCLI, "ps", "-aq"); got != "" {
		t.Errorf("refused creates left containers: %q", got)
	}
}
