package pathsafe

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A root whose symlinks all try to lead out of it.
func hostileRoot(t *testing.T) (root *os.File, dir, outside string) {
	t.Helper()
	dir = t.TempDir()
	outside = t.TempDir()
	for name, target := range map[string]string{
		"abs":  outside,                              // absolute host path
		"rel":  "../../../../../../../../" + outside, // climbs above the root
		"loop": "loop",                               // loops forever
		"dot":  "/..",                                // root's parent
	} {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	r, err := OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, dir, outside
}

func resolved(t *testing.T, f *os.File) string {
	t.Helper()
	p, err := os.Readlink(ProcPath(f))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMkdirAllStaysInRoot(t *testing.T) {
	root, dir, outside := hostileRoot(t)
	for _, p := range []string{"abs/x/y", "rel/x", "dot/x", "/../../x"} {
		h, err := MkdirAll(root, p, 0o755)
		if err != nil {
			t.Fatalf("MkdirAll(%q): %v", p, err)
		}
		if got := resolved(t, h); !strings.HasPrefix(got, dir+"/") {
			t.Errorf("MkdirAll(%q) landed at %s, outside %s", p, got, dir)
		}
		h.Close()
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Fatalf("something was created outside the root: %v", ents)
	}
	if _, err := MkdirAll(root, "loop/x", 0o755); err == nil {
		t.Fatal("a symlink loop was followed")
	}
}

func TestCreateFileStaysInRoot(t *testing.T) {
	root, dir, outside := hostileRoot(t)
	h, err := CreateFile(root, "abs/file", 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if got := resolved(t, h); got != filepath.Join(dir, outside, "file") {
		t.Errorf("file created at %s", got)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Fatalf("something was created outside the root: %v", ents)
	}
}

func TestOpenMissing(t *testing.T) {
	root, _, _ := hostileRoot(t)
	if _, err := Open(root, "no/such"); err == nil {
		t.Fatal("want an error for a missing path")
	}
}

func TestReopenDirectory(t *testing.T) {
	root, dir, _ := hostileRoot(t)
	h, err := MkdirAll(root, "d", 0o755)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	d, err := Reopen(h, os.O_RDONLY|0o200000) // O_DIRECTORY
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if got := resolved(t, d); got != filepath.Join(dir, "d") {
		t.Fatalf("reopened %s", got)
	}
}
