package build

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/berthproject/berth/internal/image"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
)

// fakeImages is a Backend holding only step records, for the cache's bookkeeping.
type fakeImages struct {
	Backend
	recs map[digest.Digest]image.BuildRecord
}

func (f *fakeImages) HasImage(id digest.Digest) bool { _, ok := f.recs[id]; return ok }

func (f *fakeImages) BuildRecords(context.Context) (map[digest.Digest]image.BuildRecord, error) {
	out := map[digest.Digest]image.BuildRecord{}
	for id, r := range f.recs {
		r.Children = 0
		for _, o := range f.recs {
			if o.Parent == id {
				r.Children++
			}
		}
		out[id] = r
	}
	return out, nil
}

func (f *fakeImages) RemoveImage(ctx context.Context, id digest.Digest) error {
	recs, _ := f.BuildRecords(ctx)
	if recs[id].Children > 0 || recs[id].Tagged {
		return errors.New("in use")
	}
	delete(f.recs, id)
	return nil
}

func (f *fakeImages) ImageConfig(context.Context, digest.Digest) (dockerspec.DockerOCIImage, error) {
	return dockerspec.DockerOCIImage{}, io.EOF
}

func TestCacheUsageAndPrune(t *testing.T) {
	d := func(s string) digest.Digest { return digest.FromString(s) }
	// base <- a <- b (tagged) ; base <- x <- y (untagged leaf: a build that was retagged away)
	f := &fakeImages{recs: map[digest.Digest]image.BuildRecord{
		d("a"): {ID: d("a"), Parent: d("base"), LayerSize: 10},
		d("b"): {ID: d("b"), Parent: d("a"), LayerSize: 20, Tagged: true},
		d("x"): {ID: d("x"), Parent: d("base"), LayerSize: 100},
		d("y"): {ID: d("y"), Parent: d("x"), LayerSize: 1000},
	}}
	root := t.TempDir()
	c, err := openCache(root, f)
	if err != nil {
		t.Fatal(err)
	}
	defer c.db.Close()
	for _, k := range []string{"a", "b", "x", "y"} {
		if err := c.put("key-"+k, d(k)); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(c.mounts, "m1"), 0o755)
	os.WriteFile(filepath.Join(c.mounts, "m1", "f"), make([]byte, 5), 0o644)
	ctx := context.Background()
	records, size, err := c.Usage(ctx)
	if err != nil || records != 5 || size != 10+100+1000+5 {
		t.Fatalf("usage: %d records, %d bytes, %v", records, size, err)
	}
	// Without all: what leads to the tagged image stays.
	reclaimed, err := c.Prune(ctx, false)
	if err != nil || reclaimed != 100+1000+5 {
		t.Fatalf("prune: %d %v", reclaimed, err)
	}
	if _, ok := c.get("key-a"); !ok {
		t.Error("the step under a tagged image was pruned")
	}
	if _, ok := c.get("key-y"); ok || f.HasImage(d("x")) {
		t.Error("the untagged steps survived")
	}
	if _, err := c.Prune(ctx, true); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.get("key-a"); ok {
		t.Error("prune --all kept a record")
	}
	if !f.HasImage(d("a")) {
		t.Error("an image a tagged one is built on was removed")
	}
}
