package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

type entry struct {
	name, link, body string
	typ              byte
	mode             int64
	major, minor     int64
}

func layer(t *testing.T, entries ...entry) *bytes.Reader {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		mode := e.mode
		if mode == 0 {
			mode = 0o644
			if e.typ == tar.TypeDir {
				mode = 0o755
			}
		}
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: mode, Size: int64(len(e.body)), Devmajor: e.major, Devminor: e.minor}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	return bytes.NewReader(buf.Bytes())
}

func file(name, body string) entry   { return entry{name: name, body: body, typ: tar.TypeReg} }
func dir(name string) entry          { return entry{name: name, typ: tar.TypeDir} }
func symlink(name, to string) entry  { return entry{name: name, link: to, typ: tar.TypeSymlink} }
func hardlink(name, to string) entry { return entry{name: name, link: to, typ: tar.TypeLink} }

// dest returns an extraction dir and a host dir beside it that must never be touched.
func dest(t *testing.T) (root, outside string) {
	t.Helper()
	base := t.TempDir()
	root, outside = filepath.Join(base, "root"), filepath.Join(base, "outside")
	os.Mkdir(root, 0o755)
	os.Mkdir(outside, 0o755)
	os.WriteFile(filepath.Join(outside, "secret"), []byte("host"), 0o644)
	return root, outside
}

func untouched(t *testing.T, outside string) {
	t.Helper()
	ents, _ := os.ReadDir(outside)
	if len(ents) != 1 {
		t.Errorf("host dir changed: %v", ents)
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "secret")); string(b) != "host" {
		t.Errorf("host file changed: %q", b)
	}
}

func apply(t *testing.T, root string, mode WhiteoutMode, entries ...entry) error {
	t.Helper()
	_, err := Apply(context.Background(), root, layer(t, entries...), ApplyOptions{Whiteouts: mode})
	return err
}

func TestPlainLayer(t *testing.T) {
	root, _ := dest(t)
	err := apply(t, root, WhiteoutRemove, dir("etc/"), file("etc/hosts", "127.0.0.1 localhost\n"),
		entry{name: "bin/tool", body: "x", typ: tar.TypeReg, mode: 0o4755}, symlink("bin/sh", "/bin/busybox"),
		hardlink("etc/hosts2", "etc/hosts"), entry{name: "dev/null", typ: tar.TypeChar, major: 1, minor: 3})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc/hosts2")); string(b) != "127.0.0.1 localhost\n" {
		t.Errorf("hard link content %q", b)
	}
	if fi, _ := os.Stat(filepath.Join(root, "bin/tool")); fi == nil || fi.Mode()&os.ModeSetuid == 0 {
		t.Errorf("setuid bit lost: %v", fi)
	}
	if l, _ := os.Readlink(filepath.Join(root, "bin/sh")); l != "/bin/busybox" {
		t.Errorf("symlink = %q", l)
	}
	var st unix.Stat_t
	if unix.Lstat(filepath.Join(root, "dev/null"), &st) != nil || st.Rdev != unix.Mkdev(1, 3) {
		t.Errorf("device node not made")
	}
}

func TestEscapesFailSafely(t *testing.T) {
	cases := map[string][]entry{
		"dotdot name":         {file("../outside/secret", "pwned")},
		"dotdot deep":         {file("a/../../outside/secret", "pwned")},
		"hardlink out":        {hardlink("h", "../outside/secret")},
		"hardlink abs dotdot": {hardlink("h", "/../../outside/secret")},
	}
	for name, entries := range cases {
		t.Run(name, func(t *testing.T) {
			root, outside := dest(t)
			if err := apply(t, root, WhiteoutRemove, entries...); err == nil || !strings.Contains(err.Error(), "escapes") {
				t.Errorf("want an escape error, got %v", err)
			}
			untouched(t, outside)
		})
	}
}

func TestSymlinksAreClampedToTheRoot(t *testing.T) {
	root, outside := dest(t)
	err := apply(t, root, WhiteoutRemove,
		symlink("abs", outside),                      // absolute host path
		symlink("rel", "../../../../../../"+outside), // climbs above the root
		file("abs/secret", "pwned"),                  // written through the symlinks...
		file("rel/secret", "pwned2"),
		entry{name: "abs/dev", typ: tar.TypeChar, major: 1, minor: 3},
		symlink("abs/newlink", "/etc/shadow"),
		file("/abs/x", "y"),
		symlink("s", outside+"/secret"),
		hardlink("h", "s"), // links the symlink itself, never the host file it names
	)
	if err != nil {
		t.Fatal(err)
	}
	untouched(t, outside)
	var st unix.Stat_t
	if unix.Stat(filepath.Join(outside, "secret"), &st) != nil || st.Nlink != 1 {
		t.Errorf("host file gained a hard link: nlink %d", st.Nlink)
	}
	if fi, _ := os.Lstat(filepath.Join(root, "h")); fi == nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("hard link to a symlink is not a symlink")
	}
	// ...land inside the root, where a chroot would have put them.
	if b, _ := os.ReadFile(filepath.Join(root, outside, "secret")); string(b) != "pwned2" {
		t.Errorf("clamped write = %q", b)
	}
}

func TestFileReplacesSymlinkInsteadOfWritingThroughIt(t *testing.T) {
	root, outside := dest(t)
	if err := apply(t, root, WhiteoutRemove, file("target", "keep"), symlink("link", "target")); err != nil {
		t.Fatal(err)
	}
	if err := apply(t, root, WhiteoutRemove, file("link", "new")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "target")); string(b) != "keep" {
		t.Errorf("wrote through the symlink: target = %q", b)
	}
	if fi, _ := os.Lstat(filepath.Join(root, "link")); fi == nil || !fi.Mode().IsRegular() {
		t.Errorf("link not replaced by a file")
	}
	untouched(t, outside)
}

func TestWhiteouts(t *testing.T) {
	lower := []entry{dir("d/"), file("d/a", "1"), file("d/b", "2"), dir("o/"), file("o/old", "3"), file("gone", "4")}
	upper := []entry{file(".wh.gone", ""), file("d/.wh.a", ""), dir("o/"), file("o/.wh..wh..opq", ""), file("o/new", "5")}

	// Remove mode: the directory holds the lower layers; deletions happen.
	root, _ := dest(t)
	if err := apply(t, root, WhiteoutRemove, lower...); err != nil {
		t.Fatal(err)
	}
	if err := apply(t, root, WhiteoutRemove, upper...); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]bool{"gone": false, "d/a": false, "d/b": true, "o/old": false, "o/new": true} {
		if _, err := os.Lstat(filepath.Join(root, p)); (err == nil) != want {
			t.Errorf("remove mode: %s exists=%v, want %v", p, err == nil, want)
		}
	}

	// Overlay mode: deletions become overlayfs whiteouts in an upper directory.
	up, _ := dest(t)
	if err := apply(t, up, WhiteoutOverlay, upper...); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if unix.Lstat(filepath.Join(up, "gone"), &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("no 0/0 whiteout for gone")
	}
	buf := make([]byte, 8)
	if n, err := unix.Getxattr(filepath.Join(up, "o"), "trusted.overlay.opaque", buf); err != nil || string(buf[:n]) != "y" {
		t.Errorf("opaque xattr: %q %v", buf[:n], err)
	}
	for _, bad := range []string{".wh..", ".wh."} {
		if err := apply(t, up, WhiteoutOverlay, file(bad, "")); err == nil {
			t.Errorf("whiteout %q accepted", bad)
		}
	}
}

func TestTruncatedLayer(t *testing.T) {
	root, _ := dest(t)
	r := layer(t, file("big", strings.Repeat("x", 4096)))
	cut := make([]byte, 1024)
	n, _ := r.Read(cut)
	if _, err := Apply(context.Background(), root, bytes.NewReader(cut[:n]), ApplyOptions{}); err == nil {
		t.Fatal("a truncated layer applied without error")
	}
}
