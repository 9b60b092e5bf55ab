// Package runtime_test runs real containers with bin/berth-runtime as root and checks, from
// inside (test/checker) and outside (/proc, cgroupfs, mountinfo), that the spec was enforced.
package runtime_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berthproject/berth/internal/runtime/libct"
	"github.com/berthproject/berth/test/checker/report"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var (
	runtimeBin  string // berth-runtime under test
	shimBin     string // berth-shim under test
	checkerBin  string // static in-container checker
	rootfsProto string // busybox rootfs, copied into each bundle
	repoRoot    string
)

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "test/runtime: these tests start real containers and must run as root")
		os.Exit(1)
	}
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Join(filepath.Dir(file), "..", "..")
	work, err := os.MkdirTemp("", "berth-runtime-test-")
	if err != nil {
		panic(err)
	}
	code := func() int {
		defer os.RemoveAll(work)
		runtimeBin = os.Getenv("BERTH_RUNTIME")
		if runtimeBin == "" {
			runtimeBin = filepath.Join(work, "berth-runtime")
			if out, err := goBuild(runtimeBin, "./cmd/berth-runtime", true); err != nil {
				fmt.Fprintf(os.Stderr, "build berth-runtime: %v\n%s", err, out)
				return 1
			}
		}
		shimBin = filepath.Join(os.Getenv("BERTH_BIN_DIR"), "berth-shim")
		if os.Getenv("BERTH_BIN_DIR") == "" {
			shimBin = filepath.Join(work, "berth-shim")
			if out, err := goBuild(shimBin, "./cmd/berth-shim", false); err != nil {
				fmt.Fprintf(os.Stderr, "build berth-shim: %v\n%s", err, out)
				return 1
			}
		}
		checkerBin = filepath.Join(work, "checker")
		if out, err := goBuild(checkerBin, "./test/checker", false); err != nil {
			fmt.Fprintf(os.Stderr, "build checker: %v\n%s", err, out)
			return 1
		}
		rootfsProto = filepath.Join(work, "rootfs")
		if out, err := exec.Command(filepath.Join(repoRoot, "contrib", "mkrootfs-busybox.sh"), rootfsProto).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "make busybox rootfs: %v\n%s", err, out)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

func goBuild(out, pkg string, cgo bool) ([]byte, error) {
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if cgo {
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	}
	return cmd.CombinedOutput()
}

var seq atomic.Int64

// env is one test's runtime: its own state root and container ids.
type env struct {
	t    *testing.T
	root string
	// extraEnv is added to berth-runtime's environment (BERTH_GO_INIT=1 selects the Go init).
	extraEnv []string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, root: t.TempDir()}
	t.Cleanup(func() {
		// Force-delete whatever the test left; a test that cleaned up itself makes this a no-op.
		out, _ := exec.Command(runtimeBin, "--root", e.root, "list", "-q").Output()
		for _, id := range strings.Fields(string(out)) {
			exec.Command(runtimeBin, "--root", e.root, "delete", "--force", id).Run()
		}
	})
	return e
}

// id returns a container id unique to this test run.
func (e *env) id() string {
	name := strings.NewReplacer("/", "-", " ", "-").Replace(e.t.Name())
	return fmt.Sprintf("%s-%d-%d", name, os.Getpid(), seq.Add(1))
}

// bundle makes a bundle with a fresh busybox rootfs holding /checker, a spec that runs the
// checker with args, changed by mutate.
func (e *env) bundle(mutate func(*specs.Spec), checkerArgs ...string) string {
	e.t.Helper()
	dir := e.t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	if out, err := exec.Command("cp", "-a", rootfsProto, rootfs).CombinedOutput(); err != nil {
		e.t.Fatalf("copy rootfs: %v\n%s", err, out)
	}
	if out, err := exec.Command("cp", checkerBin, filepath.Join(rootfs, "checker")).CombinedOutput(); err != nil {
		e.t.Fatalf("copy checker: %v\n%s", err, out)
	}
	s := libct.DefaultSpec()
	s.Process.Terminal = false
	s.Process.Args = append([]string{"/checker"}, checkerArgs...)
	if mutate != nil {
		mutate(s)
	}
	writeSpec(e.t, dir, s)
	return dir
}

func writeSpec(t *testing.T, dir string, s *specs.Spec) {
	t.Helper()
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

type result struct {
	stdout, stderr string
	code           int
}

// rtTimeout bounds every berth-runtime call, so a hang fails the test instead of the package.
const rtTimeout = time.Minute

// rt runs berth-runtime with this env's root. Output goes to files, not pipes: a created or
// detached container inherits the runtime's stdio and would hold a pipe open after it exits.
func (e *env) rt(args ...string) result {
	e.t.Helper()
	return e.rtIn(nil, args...)
}

// rtIn is rt with stdin (nil: /dev/null).
func (e *env) rtIn(stdin *os.File, args ...string) result {
	e.t.Helper()
	dir := e.t.TempDir()
	outF, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		e.t.Fatal(err)
	}
	defer outF.Close()
	errF, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		e.t.Fatal(err)
	}
	defer errF.Close()
	ctx, cancel := context.WithTimeout(context.Background(), rtTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, runtimeBin, append([]string{"--root", e.root}, args...)...)
	cmd.Stdout, cmd.Stderr = outF, errF
	if len(e.extraEnv) > 0 {
		cmd.Env = append(os.Environ(), e.extraEnv...)
	}
	if stdin != nil {
		cmd.Stdin = stdin
	}
	err = cmd.Run()
	o, _ := os.ReadFile(outF.Name())
	se, _ := os.ReadFile(errF.Name())
	r := result{stdout: string(o), stderr: string(se)}
	if ctx.Err() != nil {
		e.t.Fatalf("berth-runtime %v: timed out after %v\nstdout: %s\nstderr: %s", args, rtTimeout, r.stdout, r.stderr)
	}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("berth-runtime %v: %v", args, err)
	}
	return r
}

// mustRT is rt that fails the test on a non-zero exit.
func (e *env) mustRT(args ...string) result {
	e.t.Helper()
	r := e.rt(args...)
	if r.code != 0 {
		e.t.Fatalf("berth-runtime %v: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
	}
	return r
}

// runChecker runs a bundle in the foreground and decodes the checker's report.
func (e *env) runChecker(bundle string) *report.Report {
	e.t.Helper()
	r := e.mustRT("run", "--bundle", bundle, e.id())
	var rep report.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		e.t.Fatalf("decode checker report: %v\n%s\nstderr: %s", err, r.stdout, r.stderr)
	}
	return &rep
}

// ociState reads `state` of a container.
func (e *env) ociState(id string) specs.State {
	e.t.Helper()
	var st specs.State
	r := e.mustRT("state", id)
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		e.t.Fatalf("decode state: %v\n%s", err, r.stdout)
	}
	return st
}

// sleeper returns a spec mutator that makes the container run `sleep 1000` instead of the checker.
func sleeper(extra func(*specs.Spec)) func(*specs.Spec) {
	return func(s *specs.Spec) {
		s.Process.Args = []string{"sleep", "1000"}
		if extra != nil {
			extra(s)
		}
	}
}

func hostNS(t *testing.T, name string) string {
	t.Helper()
	l, err := os.Readlink("/proc/self/ns/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
