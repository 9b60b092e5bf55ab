package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// docker cp's extraction: ".wh." names are plain files, owners are replaced, and names cannot
// climb out of the destination.
func TestApplyForCp(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: ".wh.kept", Mode: 0o644, Uid: 1000, Gid: 1000})
	tw.WriteHeader(&tar.Header{Name: "link", Typeflag: tar.TypeSymlink, Linkname: outside})
	tw.WriteHeader(&tar.Header{Name: "link/through", Mode: 0o644})
	tw.Close()
	if _, err := Apply(context.Background(), dir, &buf, ApplyOptions{Whiteouts: WhiteoutNone, Owner: &Owner{UID: 7, GID: 8}}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(filepath.Join(dir, ".wh.kept"))
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 7 || st.Gid != 8 {
		t.Errorf("owner %d:%d", st.Uid, st.Gid)
	}
	if _, err := os.Lstat(filepath.Join(outside, "through")); err == nil {
		t.Error("written through a symlink out of the destination")
	}
	buf.Reset()
	tw = tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "../../escape", Mode: 0o644})
	tw.Close()
	if _, err := Apply(context.Background(), filepath.Join(dir), &buf, ApplyOptions{Whiteouts: WhiteoutNone}); err == nil {
		t.Error("a name climbing out was accepted")
	}
}
