package runtime_test

// Hook tests: every OCI hook runs at its point of the lifecycle with the container's state on its
// stdin, in the right namespace, and a failing creation hook fails create without leftovers.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// lcHook is a hook that saves its stdin to file (a path in the namespace the hook runs in).
func lcHook(file string) specs.Hook {
	return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "cat > " + file}}
}

// lcReadHookState decodes the state a hook saved, polling up to d for it to appear complete.
func lcReadHookState(t *testing.T, file string, d time.Duration) (specs.State, bool) {
	t.Helper()
	var st specs.State
	for deadline := time.Now().Add(d); ; {
		b, err := os.ReadFile(file)
		if err == nil && json.Unmarshal(b, &st) == nil {
			return st, true
		}
		if time.Now().After(deadline) {
			return st, false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func lcExists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// TestHooks runs a container with all six hooks and checks when each ran and what it was told.
func TestHooks(t *testing.T) {
	e := newEnv(t)
	id := e.id()
	out := t.TempDir()
	host := func(kind string) string { return filepath.Join(out, kind+".json") }
	b := e.bundle(sleeper(func(s *specs.Spec) {
		// startContainer runs inside the container after pivot_root: it writes into the rootfs,
		// which must then be writable.
		s.Root.Readonly = false
		s.Hooks = &specs.Hooks{
			//lint:ignore SA1019 prestart is deprecated but still run
			Prestart:        []specs.Hook{lcHook(host("prestart"))},
			CreateRuntime:   []specs.Hook{lcHook(host("createRuntime"))},
			CreateContainer: []specs.Hook{lcHook(host("createContainer"))},
			StartContainer:  []specs.Hook{lcHook("/tmp/startContainer.json")},
			Poststart:       []specs.Hook{lcHook(host("poststart"))},
			Poststop:        []specs.Hook{lcHook(host("poststop"))},
		}
	}))
	startFile := filepath.Join(b, "rootfs", "tmp", "startContainer.json")

	e.mustRT("create", "--bundle", b, id)
	pid := e.ociState(id).Pid
	for _, kind := range []string{"prestart", "createRuntime", "createContainer"} {
		st, ok := lcReadHookState(t, host(kind), 0)
		if !ok {
			t.Errorf("%s hook did not run (or wrote no state) by the end of create", kind)
			continue
		}
		if st.ID != id || st.Bundle != b || st.Status != specs.StateCreating {
			t.Errorf("%s hook state: id %q bundle %q status %q, want %s %s creating", kind, st.ID, st.Bundle, st.Status, id, b)
		}
		// runc hands createContainer the pid as the container sees it (1); the host pid is what
		// the OCI spec defines. Either is a real pid, never 0.
		if (kind != "createContainer" && st.Pid != pid) || st.Pid <= 0 {
			t.Errorf("%s hook state pid = %d, want the init's %d", kind, st.Pid, pid)
		}
	}
	for _, f := range []string{startFile, host("poststart"), host("poststop")} {
		if lcExists(f) {
			t.Errorf("%s exists before start", f)
		}
	}

	e.mustRT("start", id)
	// poststart runs before start returns (as with runc); startContainer runs in the init after
	// start released it, so it may finish a moment later.
	if st, ok := lcReadHookState(t, host("poststart"), 0); !ok {
		t.Errorf("poststart hook had not run when start returned")
	} else if st.ID != id || st.Pid != pid || st.Status != specs.StateRunning {
		t.Errorf("poststart hook state: id %q pid %d status %q, want %s %d running", st.ID, st.Pid, st.Status, id, pid)
	}
	if st, ok := lcReadHookState(t, startFile, 5*time.Second); !ok {
		t.Errorf("startContainer hook did not write %s (inside the container's rootfs)", startFile)
	} else if st.ID != id || st.Pid <= 0 {
		t.Errorf("startContainer hook state: id %q pid %d", st.ID, st.Pid)
	}
	// It ran inside the container: the host's /tmp did not get the file.
	if lcExists("/tmp/startContainer.json") {
		t.Errorf("startContainer hook wrote to the host's /tmp: it did not run in the container's mount namespace")
	}
	if st := e.lcWaitStatus(id, specs.StateRunning, 5*time.Second); st.Pid != pid {
		t.Errorf("after start: pid %d, want %d", st.Pid, pid)
	}
	if lcExists(host("poststop")) {
		t.Errorf("poststop ran before delete")
	}

	e.mustRT("kill", id, "KILL")
	e.lcWaitStatus(id, specs.StateStopped, 5*time.Second)
	if lcExists(host("poststop")) {
		t.Errorf("poststop ran at kill, before delete")
	}
	e.mustRT("delete", id)
	if st, ok := lcReadHookState(t, host("poststop"), 0); !ok {
		t.Errorf("poststop hook had not run when delete returned")
	} else if st.ID != id || st.Status != specs.StateStopped || st.Bundle != b {
		t.Errorf("poststop hook state: id %q status %q bundle %q, want %s stopped %s", st.ID, st.Status, st.Bundle, id, b)
	}
}

// TestHookEnvAndArgs checks that a hook gets exactly its args and env.
func TestHookEnvAndArgs(t *testing.T) {
	e := newEnv(t)
	id := e.id()
	outFile := filepath.Join(t.TempDir(), "out")
	b := e.bundle(sleeper(func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{
			Path: "/bin/sh",
			Args: []string{"hook-argv0", "-c", `printf '%s|%s|%s|' "$0" "$1" "$HOOKVAR" > ` + outFile + `; head -c 10 /proc/$$/cmdline >> ` + outFile, "first", "second"},
			Env:  []string{"HOOKVAR=hv", "PATH=/bin:/usr/bin"},
		}}}
	}))
	e.mustRT("create", "--bundle", b, id)
	got, err := os.ReadFile(outFile)
	if err != nil {
		t.Fatalf("createRuntime hook did not run: %v", err)
	}
	if string(got) != "first|second|hv|hook-argv0" {
		t.Errorf("hook saw %q, want \"first|second|hv|hook-argv0\" ($0 $1 $HOOKVAR argv[0])", got)
	}
	e.mustRT("delete", "--force", id)
}

// TestFailingCreateHook checks that a creation hook exiting 1 fails create, that later hooks do
// not run, and that nothing is left: no state, no cgroup, no process.
func TestFailingCreateHook(t *testing.T) {
	for _, kind := range []string{"prestart", "createRuntime", "createContainer"} {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t)
			id := e.id()
			out := t.TempDir()
			ran := filepath.Join(out, "ran")
			failing := specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "echo ran > " + ran + "; echo hook-boom >&2; exit 1"}}
			later := lcHook(filepath.Join(out, "later.json"))
			poststart := lcHook(filepath.Join(out, "poststart.json"))
			b := e.bundle(sleeper(func(s *specs.Spec) {
				h := &specs.Hooks{Poststart: []specs.Hook{poststart}}
				switch kind {
				case "prestart":
					//lint:ignore SA1019 prestart is deprecated but still run
					h.Prestart = []specs.Hook{failing}
					h.CreateRuntime = []specs.Hook{later}
				case "createRuntime":
					h.CreateRuntime = []specs.Hook{failing, later}
				case "createContainer":
					h.CreateContainer = []specs.Hook{failing, later}
				}
				s.Hooks = h
			}))
			r := e.rt("create", "--bundle", b, id)
			if r.code == 0 {
				t.Fatalf("create with a failing %s hook succeeded", kind)
			}
			if !lcExists(ran) {
				t.Fatalf("the failing %s hook never ran; create failed for another reason: %s", kind, r.stderr)
			}
			// runc reports the hook's stderr; so should berth.
			if !strings.Contains(r.stderr, "hook-boom") {
				t.Errorf("create error %q does not carry the hook's stderr", r.stderr)
			}
			if lcExists(filepath.Join(out, "later.json")) {
				t.Errorf("a hook after the failing one ran")
			}
			if lcExists(filepath.Join(out, "poststart.json")) {
				t.Errorf("poststart ran although create failed")
			}
			if r := e.rt("state", id); r.code == 0 {
				t.Errorf("state of the failed container succeeded: %s", r.stdout)
			}
			if lcExists(filepath.Join(e.root, id)) {
				t.Errorf("state dir %s left after a failed create", filepath.Join(e.root, id))
			}
			if r := e.mustRT("list", "-q"); strings.TrimSpace(r.stdout) != "" {
				t.Errorf("list after a failed create: %q", r.stdout)
			}
			var left []string
			for deadline := time.Now().Add(3 * time.Second); ; {
				left = lcProcsRootedIn(filepath.Join(b, "rootfs"))
				if lcExists(lcDefaultCgroupDir(id)) {
					left = append(left, "cgroup "+lcDefaultCgroupDir(id))
				}
				if len(left) == 0 || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			for _, l := range left {
				t.Errorf("left after a failed create: %s", l)
			}
		})
	}
}
