package engine_test

import (
	"os"
	"strings"
	"testing"
)

// TestLogOptions: the daemon's log-opts are every container's default, --log-opt overrides them,
// the shim rotates at max-size keeping max-file files, bad options get dockerd's errors (option
// names at create, values at start), and --log-driver none keeps no log.
func TestLogOptions(t *testing.T) {
	d := withBusyboxConfig(t, `{"log-opts": {"max-size": "1k", "max-file": "3"}}`)
	for _, prog := range clients() {
		name := "rotated-" + strings.TrimPrefix(prog[strings.LastIndex(prog, "/")+1:], "docker")
		d.must(prog, "create", "--name", name, "--log-opt", "max-file=2", "busybox", "seq", "1", "1000")
		if got := d.must(prog, "inspect", "-f", "{{json .HostConfig.LogConfig}}", name); got != `{"Type":"json-file","Config":{"max-file":"2","max-size":"1k"}}` {
			t.Errorf("%s: log config %s, want the daemon's max-size and the container's max-file", prog, got)
		}
		d.must(prog, "start", "-a", name)
		path := d.must(prog, "inspect", "-f", "{{.LogPath}}", name)
		for suffix, want := range map[string]bool{"": true, ".1": true, ".2": false} {
			fi, err := os.Stat(path + suffix)
			if (err == nil) != want {
				t.Errorf("%s: log file %s exists: %v, want %v", prog, path+suffix, err == nil, want)
			}
			if err == nil && fi.Size() > 1000+200 {
				t.Errorf("%s: log file %s has %d bytes, over max-size 1k (and one entry)", prog, path+suffix, fi.Size())
			}
		}
		r := d.run(prog, "logs", name)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if r.code != 0 || lines[len(lines)-1] != "1000" || lines[0] == "1" || len(lines) > 60 {
			t.Errorf("%s logs: exit %d, %d lines from %q to %q: want the last lines kept by rotation only", prog, r.code, len(lines), lines[0], lines[len(lines)-1])
		}
		d.must(prog, "rm", name)
	}

	for _, prog := range clients() {
		// Create's errors exit 1 (run's exit 125), as docker's.
		r := d.run(prog, "create", "--log-opt", "foo=bar", "busybox", "true")
		if r.code != 1 || !strings.Contains(r.stderr, "unknown log opt 'foo' for json-file log driver") {
			t.Errorf("%s create with an unknown log opt: exit %d %s", prog, r.code, r.stderr)
		}
		r = d.run(prog, "create", "--log-driver", "nosuch", "busybox", "true")
		if r.code != 1 || !strings.Contains(r.stderr, `error looking up logging plugin nosuch: plugin "nosuch" not found`) {
			t.Errorf("%s create with an unknown log driver: exit %d %s", prog, r.code, r.stderr)
		}
		// A value is read at start, as dockerd reads it: the create succeeds, the run fails.
		r = d.run(prog, "run", "--rm", "--log-opt", "max-size=abc", "busybox", "true")
		if r.code != 125 || !strings.Contains(r.stderr, "failed to initialize logging driver: invalid size: 'abc'") {
			t.Errorf("%s run with max-size=abc: exit %d %s", prog, r.code, r.stderr)
		}
		r = d.run(prog, "run", "--rm", "--log-opt", "max-file=0", "busybox", "true")
		if r.code != 125 || !strings.Contains(r.stderr, "max-file cannot be less than 1") {
			t.Errorf("%s run with max-file=0: exit %d %s", prog, r.code, r.stderr)
		}
		name := "nolog-" + strings.TrimPrefix(prog[strings.LastIndex(prog, "/")+1:], "docker")
		d.must(prog, "run", "--name", name, "--log-driver", "none", "busybox", "echo", "hidden")
		r = d.run(prog, "logs", name)
		if r.code == 0 || strings.Contains(r.stdout, "hidden") || !strings.Contains(r.stderr, "configured logging driver does not support reading") {
			t.Errorf("%s logs of a --log-driver none container: exit %d stdout %q stderr %s", prog, r.code, r.stdout, r.stderr)
		}
		d.must(prog, "rm", name)
	}
	if got := d.mustDocker("ps", "-aq"); got != "" {
		t.Errorf("containers left: %q", got)
	}
}
