package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestReplace(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state.json")
	for _, w := range []func(string, []byte, os.FileMode) error{WriteFile, WriteFileNoSync} {
		if err := w(p, []byte("one"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := w(p, []byte("two"), 0o640); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(p)
		fi, _ := os.Stat(p)
		if string(b) != "two" || fi.Mode().Perm() != 0o640 {
			t.Fatalf("content %q mode %v", b, fi.Mode().Perm())
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("temp files left: %v", ents)
	}
}
