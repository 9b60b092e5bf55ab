package archive

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func openDir(t *testing.T, p string) int {
	t.Helper()
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

func write(t *testing.T, p, content string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// MoveInto merges directories, replaces files, swaps an entry of the other kind, and never
// follows a symlink in the destination.
func TestMoveInto(t *testing.T) {
	src, dst, outside := t.TempDir(), t.TempDir(), t.TempDir()
	write(t, filepath.Join(src, "dir/new"), "new")
	write(t, filepath.Join(src, "dir/file"), "replaced")
	write(t, filepath.Join(src, "wasdir"), "now a file")
	write(t, filepath.Join(src, "wasfile/inside"), "now a dir")
	write(t, filepath.Join(src, "link/x"), "into the link's place")
	os.Chmod(filepath.Join(src, "dir"), 0o701)
	write(t, filepath.Join(dst, "dir/kept"), "kept")
	write(t, filepath.Join(dst, "dir/file"), "old")
	write(t, filepath.Join(dst, "wasdir/sub/f"), "old")
	write(t, filepath.Join(dst, "wasfile"), "old")
	os.Symlink(outside, filepath.Join(dst, "link"))
	if err := MoveInto(openDir(t, src), openDir(t, dst), "", false); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{"dir/new": "new", "dir/file": "replaced", "dir/kept": "kept",
		"wasdir": "now a file", "wasfile/inside": "now a dir", "link/x": "into the link's place"} {
		if b, err := os.ReadFile(filepath.Join(dst, p)); err != nil || string(b) != want {
			t.Errorf("%s: %q %v", p, b, err)
		}
	}
	if fi, _ := os.Stat(filepath.Join(dst, "dir")); fi.Mode().Perm() != 0o701 {
		t.Errorf("merged directory mode %v", fi.Mode().Perm())
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("wrote through a symlink: %v", ents)
	}
	// What was replaced went with the source's leftovers: only emptied directories remain there.
	filepath.WalkDir(src, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			t.Errorf("left in the source: %s", p)
		}
		return nil
	})
}

func TestMoveIntoNoOverwriteDirNonDir(t *testing.T) {
	for _, tc := range []struct{ src, dst, want string }{
		{"a", "a/sub", `cannot overwrite directory "/a" with non-directory "a"`},
		{"a/sub", "a", `cannot overwrite non-directory "/a" with directory "a"`},
	} {
		src, dst := t.TempDir(), t.TempDir()
		write(t, filepath.Join(src, tc.src), "x")
		write(t, filepath.Join(dst, tc.dst), "y")
		err := MoveInto(openDir(t, src), openDir(t, dst), "", true)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s over %s: %v", tc.src, tc.dst, err)
		}
	}
}
