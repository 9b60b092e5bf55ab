package content

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthproject/berth/internal/errdefs"
	"github.com/opencontainers/go-digest"
)

func TestWriteVerifyReadDelete(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := "hello layer"
	want := digest.FromString(data)
	info, err := s.Write(ctx, strings.NewReader(data), want, int64(len(data)))
	if err != nil || info.Digest != want || info.Size != int64(len(data)) {
		t.Fatalf("write: %+v %v", info, err)
	}
	f, err := s.Open(want)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != data {
		t.Fatalf("read back %q", b)
	}
	// Writing it again is idempotent.
	if _, err := s.Write(ctx, strings.NewReader(data), want, -1); err != nil {
		t.Fatal(err)
	}
	var n int
	s.Walk(func(Info) error { n++; return nil })
	if n != 1 {
		t.Fatalf("walk found %d blobs", n)
	}
	if err := s.Delete(want); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(want); !errdefs.Is(err, errdefs.KindNotFound) {
		t.Fatalf("stat after delete: %v", err)
	}
}

func TestMismatchKeepsNothing(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s, _ := Open(root)
	wrong := digest.FromString("something else")
	if _, err := s.Write(ctx, strings.NewReader("data"), wrong, -1); !errdefs.Is(err, errdefs.KindInvalidArgument) {
		t.Fatalf("digest mismatch: %v", err)
	}
	if _, err := s.Write(ctx, strings.NewReader("data"), digest.FromString("data"), 99); err == nil {
		t.Fatal("size mismatch accepted")
	}
	for _, sub := range []string{"blobs/sha256", "ingest"} {
		if ents, _ := os.ReadDir(filepath.Join(root, sub)); len(ents) != 0 {
			t.Errorf("%s holds %d entries after failed writes", sub, len(ents))
		}
	}
}

func TestDigestsAreValidatedBeforeUse(t *testing.T) {
	s, _ := Open(t.TempDir())
	for _, d := range []digest.Digest{"sha256:../../etc/passwd", "sha256:", "md5:abc", "../x"} {
		if _, err := s.Open(d); !errdefs.Is(err, errdefs.KindInvalidArgument) {
			t.Errorf("Open(%q): %v", d, err)
		}
	}
}

func TestCrashedIngestsAreCleared(t *testing.T) {
	root := t.TempDir()
	s, _ := Open(root)
	os.WriteFile(filepath.Join(s.ingestDir(), "blob-123"), []byte("half"), 0o600)
	if _, err := Open(root); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "ingest")); len(ents) != 0 {
		t.Fatal("stale ingest kept")
	}
}

func TestCancelledWrite(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s, _ := Open(t.TempDir())
	if _, err := s.Write(ctx, strings.NewReader("data"), "", -1); err == nil {
		t.Fatal("cancelled write succeeded")
	}
}
