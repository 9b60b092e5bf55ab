package volume

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/berthproject/berth/internal/errdefs"
)

func TestCreateGetListRemove(t *testing.T) {
	root := t.TempDir()
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	v, created, err := s.Create("data", "", map[string]string{"a": "b"}, nil)
	if err != nil || !created || v.Driver != "local" {
		t.Fatalf("create: %v %v %+v", err, created, v)
	}
	if _, created, err := s.Create("data", "", nil, nil); err != nil || created {
		t.Fatalf("second create: %v %v", err, created)
	}
	if _, _, err := s.Create("data", "", nil, map[string]string{"type": "tmpfs", "device": "tmpfs"}); !errdefs.Is(err, errdefs.KindConflict) {
		t.Errorf("create with other options: %v", err)
	}
	anon, _, err := s.Create("", "", map[string]string{AnonymousLabel: ""}, nil)
	if err != nil || len(anon.Name) != 64 || !anon.Anonymous() {
		t.Fatalf("anonymous: %v %+v", err, anon)
	}
	os.WriteFile(filepath.Join(s.Path("data"), "f"), []byte("x"), 0o644)
	s.Close()
	// Reopened: records and data are still there.
	if s, err = Open(root); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	list, _ := s.List()
	if len(list) != 2 {
		t.Fatalf("list after reopen: %d", len(list))
	}
	if b, _ := os.ReadFile(filepath.Join(s.Path("data"), "f")); string(b) != "x" {
		t.Errorf("data after reopen: %q", b)
	}
	if err := s.Remove("data"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("data"); !errdefs.Is(err, errdefs.KindNotFound) {
		t.Errorf("get after remove: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "data")); !os.IsNotExist(err) {
		t.Errorf("directory left: %v", err)
	}
}

func TestNamesOutsideTheStoreRefused(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, name := range []string{"..", "../x", "a/b", "/abs", ".hidden", "x", "a\x00b", "-dash"} {
		if _, _, err := s.Create(name, "", nil, nil); !errdefs.Is(err, errdefs.KindInvalidArgument) {
			t.Errorf("%q: %v", name, err)
		}
	}
	for _, name := range []string{"ab", "a..b", "my_vol-1.x"} {
		if _, _, err := s.Create(name, "", nil, nil); err != nil {
			t.Errorf("%q refused: %v", name, err)
		}
	}
	if _, _, err := s.Create("v1", "other", nil, nil); !errdefs.Is(err, errdefs.KindNotFound) {
		t.Errorf("unknown driver: %v", err)
	}
}

// A crash between making a volume's directory and writing its record leaves nothing visible.
func TestHalfMadeVolumesCleanedAtOpen(t *testing.T) {
	root := t.TempDir()
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, d := range []string{".tmp-x1/_data", "orphan/_data", ".rm-gone/_data"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	s, err = Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		if e.Name() != "metadata.db" {
			t.Errorf("left after open: %s", e.Name())
		}
	}
	if list, _ := s.List(); len(list) != 0 {
		t.Errorf("listed: %v", list)
	}
}

// A fill appears whole or not at all; what a fill cut short left is removed when the store opens.
func TestFill(t *testing.T) {
	root := t.TempDir()
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	v, _, err := s.Create("vol", "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	failed := s.Fill(v, false, func(dir string) error {
		os.WriteFile(filepath.Join(dir, "half"), nil, 0o644)
		return os.ErrInvalid
	})
	if failed == nil {
		t.Fatal("a failed fill reported no error")
	}
	if ents, _ := os.ReadDir(s.Path("vol")); len(ents) != 0 {
		t.Errorf("a failed fill left %v", ents)
	}
	if err := s.Fill(v, false, func(dir string) error { return os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644) }); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(s.Path("vol"), "f")); string(b) != "x" {
		t.Errorf("filled volume: %q", b)
	}
	if fi, _ := os.Stat(s.Path("vol")); fi.Mode().Perm() != 0o755 {
		t.Errorf("filled volume mode %v", fi.Mode().Perm())
	}
	// Not empty: left alone.
	s.Fill(v, false, func(dir string) error { t.Error("filled twice"); return nil })
	// A daemon killed mid-fill leaves a staging directory: gone at the next open.
	os.Mkdir(filepath.Join(root, "vol", fillPrefix+"123"), 0o700)
	s.Close()
	if s, err = Open(root); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if ents, _ := os.ReadDir(filepath.Join(root, "vol")); len(ents) != 1 || ents[0].Name() != "_data" {
		t.Errorf("volume directory after reopen: %v", ents)
	}
}
