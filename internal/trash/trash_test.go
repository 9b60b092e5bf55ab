package trash

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRemoveTakesTreeAwayAndEmptiesTheCan(t *testing.T) {
	root := t.TempDir()
	tree := filepath.Join(root, "tree")
	if err := os.MkdirAll(filepath.Join(tree, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tree, "a", "b", "f"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	can, err := Open(filepath.Join(root, ".trash"))
	if err != nil {
		t.Fatal(err)
	}
	if err := can.Remove(tree); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tree); !os.IsNotExist(err) {
		t.Fatalf("tree still in place after Remove: %v", err)
	}
	can.Wait()
	if ents, _ := os.ReadDir(filepath.Join(root, ".trash")); len(ents) != 0 {
		t.Fatalf("trash not emptied: %v", ents)
	}
	if err := can.Remove(filepath.Join(root, "missing")); err != nil {
		t.Fatalf("removing a missing path: %v", err)
	}
}

func TestOpenEmptiesWhatACrashLeft(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ".trash")
	if err := os.MkdirAll(filepath.Join(dir, "left-1", "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	can, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	can.Wait()
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("leftovers not deleted at open: %v", ents)
	}
}

func TestNilCanDeletesInPlace(t *testing.T) {
	tree := filepath.Join(t.TempDir(), "tree")
	os.MkdirAll(filepath.Join(tree, "d"), 0o700)
	var can *Can
	if err := can.Remove(tree); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tree); !os.IsNotExist(err) {
		t.Fatalf("tree still there: %v", err)
	}
}
