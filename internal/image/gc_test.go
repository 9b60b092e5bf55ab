package image

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/berthproject/berth/internal/archive"
	"github.com/berthproject/berth/internal/content"
	"github.com/berthproject/berth/internal/snapshot"
)

// A daemon killed while extracting a layer leaves the extraction mounted and its snapshot active:
// opening the service again unmounts and removes both.
func TestRecoverInterruptedExtraction(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting needs root")
	}
	root := t.TempDir()
	ctx := context.Background()
	cs, err := content.Open(filepath.Join(root, "content"))
	if err != nil {
		t.Fatal(err)
	}
	snaps, err := snapshot.NewNative(filepath.Join(root, "snapshots"))
	if err != nil {
		t.Fatal(err)
	}
	defer snaps.Close()
	s, err := New(filepath.Join(root, "image"), cs, snaps, archive.WhiteoutRemove)
	if err != nil {
		t.Fatal(err)
	}
	mounts, err := snaps.Prepare(ctx, "extract-0123", "")
	if err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(root, "image", "tmp", "unpack-0123")
	if err := os.Mkdir(target, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := snapshot.MountAll(mounts, target); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { snapshot.Unmount(target) })
	if err := os.WriteFile(filepath.Join(target, "half"), []byte("written"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = New(filepath.Join(root, "image"), cs, snaps, archive.WhiteoutRemove)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := snaps.Stat(ctx, "extract-0123"); err == nil {
		t.Error("the interrupted extraction's snapshot is still there")
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "image", "tmp")); len(ents) != 0 {
		t.Errorf("tmp still holds %d entries", len(ents))
	}
}
