package daemon

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/berthproject/berth/internal/errdefs"
)

// A container root whose links all point out of it: resolution stays inside.
func TestResolveStaysInTheContainerRoot(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret"), []byte("host"), 0o600)
	os.MkdirAll(filepath.Join(root, outside), 0o755)
	os.WriteFile(filepath.Join(root, outside, "secret"), []byte("container"), 0o600)
	os.Symlink(outside, filepath.Join(root, "abs"))
	os.Symlink("../../../../../../.."+outside, filepath.Join(root, "up"))
	os.Symlink("/", filepath.Join(root, "slash"))
	d, v := &Daemon{}, &fsView{rootfs: root}
	for _, p := range []string{"/abs/secret", "/up/secret", "/slash" + outside + "/secret", "/../../.." + outside + "/secret"} {
		r, err := d.resolve(v, p, "c")
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		if err := writeTree(context.Background(), tw, int(r.parent.Fd()), r.base, "secret", map[uint64]string{}); err != nil {
			t.Fatal(err)
		}
		tw.Close()
		r.Close()
		tr := tar.NewReader(&buf)
		tr.Next()
		if b, _ := io.ReadAll(tr); string(b) != "container" {
			t.Errorf("%s read %q", p, b)
		}
	}
	if _, err := d.resolve(v, "/nope", "c"); !errdefs.Is(err, errdefs.KindNotFound) {
		t.Errorf("missing path: %v", err)
	}
}

// writeTree archives a symlink as a link, never what it points to.
func TestWriteTreeDoesNotFollowLinks(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret"), []byte("host"), 0o600)
	os.Mkdir(filepath.Join(root, "d"), 0o755)
	os.Symlink(outside, filepath.Join(root, "d", "out"))
	d, v := &Daemon{}, &fsView{rootfs: root}
	r, err := d.resolve(v, "/d", "c")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := writeTree(context.Background(), tw, int(r.parent.Fd()), r.base, "d", map[uint64]string{}); err != nil {
		t.Fatal(err)
	}
	tw.Close()
	tr := tar.NewReader(&buf)
	var names []string
	for {
		hdr, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, hdr.Name)
		if hdr.Name == "d/out" && (hdr.Typeflag != tar.TypeSymlink || hdr.Linkname != outside) {
			t.Errorf("link archived as %v", hdr)
		}
	}
	if len(names) != 2 {
		t.Errorf("entries %v", names)
	}
}
