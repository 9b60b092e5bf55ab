package snapshot

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/berthproject/berth/internal/errdefs"
)

// The same suite runs against every implementation, as containerd's snapshotter testsuite does.
func TestOverlay(t *testing.T) { suite(t, NewOverlay) }
func TestNative(t *testing.T)  { suite(t, NewNative) }

func suite(t *testing.T, open func(string) (Snapshotter, error)) {
	if os.Geteuid() != 0 {
		t.Fatal("snapshotter tests mount filesystems and must run as root")
	}
	for name, f := range map[string]func(*testing.T, func(string) (Snapshotter, error)){
		"LayersAndViews": testLayersAndViews,
		"RemoveOrder":    testRemoveOrder,
		"Restart":        testRestart,
		"BadRequests":    testBadRequests,
		"OrphansRemoved": testOrphansRemoved,
	} {
		t.Run(name, func(t *testing.T) { f(t, open) })
	}
}

func newSnapshotter(t *testing.T, open func(string) (Snapshotter, error), root string) Snapshotter {
	t.Helper()
	s, err := open(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// mounted mounts ms on a fresh directory for the length of the test.
func mounted(t *testing.T, ms []Mount) string {
	t.Helper()
	target := t.TempDir()
	if err := MountAll(ms, target); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := Unmount(target); err != nil {
			t.Errorf("unmount %s: %v", target, err)
		}
	})
	return target
}

func write(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func testLayersAndViews(t *testing.T, open func(string) (Snapshotter, error)) {
	ctx := context.Background()
	s := newSnapshotter(t, open, t.TempDir())
	// layer 1: a, b
	ms, err := s.Prepare(ctx, "l1-active", "")
	if err != nil {
		t.Fatal(err)
	}
	dir := mounted(t, ms)
	write(t, dir, "a", "1")
	write(t, dir, "b", "1")
	Unmount(dir)
	if err := s.Commit(ctx, "l1", "l1-active"); err != nil {
		t.Fatal(err)
	}
	// layer 2 on top: change a, delete b, add c
	ms, err = s.Prepare(ctx, "l2-active", "l1")
	if err != nil {
		t.Fatal(err)
	}
	dir = mounted(t, ms)
	write(t, dir, "a", "2")
	os.Remove(filepath.Join(dir, "b"))
	write(t, dir, "c", "2")
	Unmount(dir)
	if err := s.Commit(ctx, "l2", "l2-active"); err != nil {
		t.Fatal(err)
	}
	// A container on top sees layer 2's view, and its writes stay its own.
	ms, err = s.Prepare(ctx, "container", "l2")
	if err != nil {
		t.Fatal(err)
	}
	c := mounted(t, ms)
	if b, _ := os.ReadFile(filepath.Join(c, "a")); string(b) != "2" {
		t.Errorf("a = %q in the container", b)
	}
	if _, err := os.Stat(filepath.Join(c, "b")); err == nil {
		t.Error("b, deleted in layer 2, is visible")
	}
	write(t, c, "d", "container")
	// A view of layer 1 still shows layer 1, read-only.
	ms, err = s.View(ctx, "view-l1", "l1")
	if err != nil {
		t.Fatal(err)
	}
	v := mounted(t, ms)
	if b, _ := os.ReadFile(filepath.Join(v, "a")); string(b) != "1" {
		t.Errorf("a = %q in a view of layer 1", b)
	}
	if _, err := os.Stat(filepath.Join(v, "d")); err == nil {
		t.Error("the container's write leaked into layer 1")
	}
	if err := os.WriteFile(filepath.Join(v, "x"), nil, 0o644); err == nil {
		t.Error("a view is writable")
	}
	if info, err := s.Stat(ctx, "container"); err != nil || info.Kind != KindActive || info.Parent != "l2" {
		t.Errorf("stat container: %+v %v", info, err)
	}
	if n, err := s.Usage(ctx, "l1"); err != nil || n <= 0 {
		t.Errorf("usage of l1: %d %v", n, err)
	}
	var keys []string
	s.Walk(ctx, func(i Info) error { keys = append(keys, i.Key); return nil })
	if len(keys) != 4 {
		t.Errorf("walk: %v", keys)
	}
}

func testRemoveOrder(t *testing.T, open func(string) (Snapshotter, error)) {
	ctx := context.Background()
	root := t.TempDir()
	s := newSnapshotter(t, open, root)
	s.Prepare(ctx, "p-active", "")
	s.Commit(ctx, "p", "p-active")
	if _, err := s.Prepare(ctx, "child", "p"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, "p"); !errdefs.Is(err, errdefs.KindConflict) {
		t.Fatalf("removing a parent: %v", err)
	}
	if err := s.Remove(ctx, "child"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "snapshots")); len(ents) != 0 {
		t.Errorf("directories left after removing everything: %v", ents)
	}
}

func testRestart(t *testing.T, open func(string) (Snapshotter, error)) {
	ctx := context.Background()
	root := t.TempDir()
	s, err := open(root)
	if err != nil {
		t.Fatal(err)
	}
	ms, _ := s.Prepare(ctx, "a", "")
	dir := mounted(t, ms)
	write(t, dir, "f", "kept")
	Unmount(dir)
	s.Commit(ctx, "a-committed", "a")
	s.Close()
	s = newSnapshotter(t, open, root)
	ms, err = s.View(ctx, "v", "a-committed")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(mounted(t, ms), "f")); string(b) != "kept" {
		t.Errorf("after reopening: f = %q", b)
	}
}

func testBadRequests(t *testing.T, open func(string) (Snapshotter, error)) {
	ctx := context.Background()
	s := newSnapshotter(t, open, t.TempDir())
	s.Prepare(ctx, "active", "")
	checks := []struct {
		name string
		err  error
		kind errdefs.Kind
	}{
		{"missing parent", func() error { _, err := s.Prepare(ctx, "x", "nope"); return err }(), errdefs.KindNotFound},
		{"active parent", func() error { _, err := s.Prepare(ctx, "x", "active"); return err }(), errdefs.KindInvalidArgument},
		{"duplicate key", func() error { _, err := s.Prepare(ctx, "active", ""); return err }(), errdefs.KindConflict},
		{"empty key", func() error { _, err := s.Prepare(ctx, "", ""); return err }(), errdefs.KindInvalidArgument},
		{"commit missing", s.Commit(ctx, "c", "nope"), errdefs.KindNotFound},
		{"remove missing", s.Remove(ctx, "nope"), errdefs.KindNotFound},
	}
	for _, c := range checks {
		if !errdefs.Is(c.err, c.kind) {
			t.Errorf("%s: %v", c.name, c.err)
		}
	}
}

func testOrphansRemoved(t *testing.T, open func(string) (Snapshotter, error)) {
	root := t.TempDir()
	s, err := open(root)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// As if a crash left a directory whose record never committed.
	os.MkdirAll(filepath.Join(root, "snapshots", "999", "fs"), 0o700)
	newSnapshotter(t, open, root)
	if _, err := os.Stat(filepath.Join(root, "snapshots", "999")); err == nil {
		t.Error("orphan directory kept")
	}
}

// TestVolatileMountsAgain checks that a writable snapshot mounted volatile can be mounted
// volatile again (overlayfs refuses while its marker remains, which Volatile removes), keeps
// what was written, and that Volatile leaves other mounts alone.
func TestVolatileMountsAgain(t *testing.T) {
	ctx := context.Background()
	s := newSnapshotter(t, NewOverlay, t.TempDir())
	if _, err := s.Prepare(ctx, "base-active", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, "base", "base-active"); err != nil {
		t.Fatal(err)
	}
	ms, err := s.Prepare(ctx, "c", "base") // an overlay: a layer on a parent
	if err != nil {
		t.Fatal(err)
	}
	v := Volatile(ms)
	if len(v) != 1 || v[0].Options[len(v[0].Options)-1] != "volatile" || len(ms[0].Options) == len(v[0].Options) {
		t.Fatalf("Volatile(%v) = %v: want the overlay with the volatile option added, the input unchanged", ms, v)
	}
	dir := t.TempDir()
	if err := MountAll(v, dir); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "kept", "1")
	if err := Unmount(dir); err != nil {
		t.Fatal(err)
	}
	dir = mounted(t, Volatile(ms))
	if b, err := os.ReadFile(filepath.Join(dir, "kept")); err != nil || string(b) != "1" {
		t.Errorf("after a second volatile mount: %q, %v", b, err)
	}
	bind := []Mount{{Type: "bind", Source: "/x", Options: []string{"rbind"}}}
	if got := Volatile(bind); len(got[0].Options) != 1 {
		t.Errorf("Volatile changed a bind mount: %v", got)
	}
}
