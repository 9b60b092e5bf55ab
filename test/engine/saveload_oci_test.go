package engine_test

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// tarEntries reads a tar into memory, in order.
type tarEntry struct {
	hdr  *tar.Header
	data []byte
}

func readTar(t *testing.T, path string) []tarEntry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []tarEntry
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out = append(out, tarEntry{h, b})
	}
}

func writeTar(t *testing.T, path string, entries []tarEntry) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := *e.hdr
		h.Size = int64(len(e.data))
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		tw.Write(e.data)
	}
	tw.Close()
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func fileEntry(name string, data []byte) tarEntry {
	return tarEntry{&tar.Header{Name: name, Mode: 0o644, Typeflag: tar.TypeReg}, data}
}

// blobCount is how many blobs the engine's content store holds.
func blobCount(d *daemon) int {
	ents, _ := os.ReadDir(filepath.Join(d.dataRoot, "content", "blobs", "sha256"))
	return len(ents)
}

// TestSaveLoadOCILayout: save writes a docker-archive that is an OCI layout too (as Docker 25+);
// load reads either alone, and an OCI layout written by another tool; bad archives (truncated,
// names out of the archive, missing or corrupt blobs) fail with a clear error and load nothing.
func TestSaveLoadOCILayout(t *testing.T) {
	d := withBusybox(t)
	id := d.must(dockerCLI, "image", "inspect", "-f", "{{.ID}}", "busybox")
	dir := t.TempDir()
	saved := filepath.Join(dir, "saved.tar")
	d.must(berthBin(), "save", "-o", saved, "busybox")
	entries := readTar(t, saved)
	names := map[string][]byte{}
	for _, e := range entries {
		names[e.hdr.Name] = e.data
	}
	for _, want := range []string{"manifest.json", "index.json", "oci-layout", "repositories"} {
		if _, ok := names[want]; !ok {
			t.Errorf("saved archive lacks %s", want)
		}
	}
	var index struct {
		Manifests []struct {
			MediaType   string
			Digest      string
			Annotations map[string]string
		}
	}
	if err := json.Unmarshal(names["index.json"], &index); err != nil || len(index.Manifests) != 1 ||
		index.Manifests[0].Annotations["io.containerd.image.name"] != "docker.io/library/busybox:latest" ||
		index.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "latest" {
		t.Fatalf("index.json: %v %s", err, names["index.json"])
	}

	// The OCI layout alone: manifest.json and repositories taken out.
	ociOnly := filepath.Join(dir, "oci.tar")
	var kept []tarEntry
	for _, e := range entries {
		if e.hdr.Name != "manifest.json" && e.hdr.Name != "repositories" {
			kept = append(kept, e)
		}
	}
	writeTar(t, ociOnly, kept)

	// An OCI layout written by go-containerregistry (gzip layers), named by annotation.
	foreign := filepath.Join(dir, "foreign")
	lp, err := layout.Write(foreign, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(busyboxImage(t, "amd64"), layout.WithAnnotations(map[string]string{"io.containerd.image.name": "docker.io/library/foreign:2"})); err != nil {
		t.Fatal(err)
	}
	foreignTar := filepath.Join(dir, "foreign.tar")
	if out, err := exec.Command("tar", "-C", foreign, "-cf", foreignTar, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}

	// Bad archives.
	truncated := filepath.Join(dir, "truncated.tar")
	raw, _ := os.ReadFile(saved)
	os.WriteFile(truncated, raw[:len(raw)/2], 0o600)
	escaping := filepath.Join(dir, "escaping.tar")
	writeTar(t, escaping, append([]tarEntry{fileEntry("../escaped", []byte("x"))}, entries...))
	missing := filepath.Join(dir, "missing.tar")
	var manifest []struct {
		Config string
		Layers []string
	}
	json.Unmarshal(names["manifest.json"], &manifest)
	var noLayer []tarEntry
	for _, e := range kept {
		if e.hdr.Name != manifest[0].Layers[0] {
			noLayer = append(noLayer, e)
		}
	}
	writeTar(t, missing, noLayer)
	// Two images, the second's config naming a layer the archive's does not match: the first
	// (valid) one must not be loaded either.
	corrupt := filepath.Join(dir, "corrupt.tar")
	var cfg map[string]any
	json.Unmarshal(names[manifest[0].Config], &cfg)
	cfg["rootfs"] = map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + strings.Repeat("0", 64)}}
	badCfg, _ := json.Marshal(cfg)
	twoManifest, _ := json.Marshal([]map[string]any{
		{"Config": manifest[0].Config, "RepoTags": []string{"good:1"}, "Layers": manifest[0].Layers},
		{"Config": "bad-config.json", "RepoTags": []string{"bad:1"}, "Layers": manifest[0].Layers},
	})
	var two []tarEntry
	for _, e := range entries {
		if e.hdr.Name == "manifest.json" {
			two = append(two, fileEntry("manifest.json", twoManifest))
		} else if e.hdr.Name != "index.json" && e.hdr.Name != "oci-layout" {
			two = append(two, e)
		}
	}
	writeTar(t, corrupt, append(two, fileEntry("bad-config.json", badCfg)))

	d.must(dockerCLI, "rmi", "busybox")
	emptyBlobs := blobCount(d)
	for _, cli := range clients() {
		t.Run(filepath.Base(cli), func(t *testing.T) {
			d.t = t
			for _, archive := range []string{saved, ociOnly} {
				r := d.run(cli, "load", "-i", archive)
				if r.code != 0 || strings.TrimSpace(r.stdout) != "Loaded image: busybox:latest" {
					t.Fatalf("load %s: exit %d\n%s%s", filepath.Base(archive), r.code, r.stdout, r.stderr)
				}
				if got := d.must(cli, "image", "inspect", "-f", "{{.ID}}", "busybox"); got != id {
					t.Errorf("load %s: ID %s, want %s", filepath.Base(archive), got, id)
				}
				if out := d.must(cli, "run", "--rm", "busybox", "echo", "ok"); out != "ok" {
					t.Errorf("run after load %s: %q", filepath.Base(archive), out)
				}
				d.must(cli, "rmi", "busybox")
			}
			if r := d.runIn(foreignTar, cli, "load", "-q"); r.code != 0 || strings.TrimSpace(r.stdout) != "Loaded image: foreign:2" {
				t.Fatalf("load of a foreign OCI layout: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			if out := d.must(cli, "run", "--rm", "foreign:2", "sh", "-c", "echo $BUILT_FOR"); out != "amd64" {
				t.Errorf("run of the foreign image: %q", out)
			}
			d.must(cli, "rmi", "foreign:2")
			for _, bad := range []struct{ archive, want string }{
				{truncated, "invalid archive"},
				{escaping, `"../escaped" points outside the archive`},
				{missing, "is missing"},
				{corrupt, "sha256:" + strings.Repeat("0", 64)},
			} {
				r := d.run(cli, "load", "-i", bad.archive)
				t.Logf("load %s: %s", filepath.Base(bad.archive), strings.TrimSpace(r.stdout+r.stderr))
				if r.code != 1 || !strings.Contains(r.stdout+r.stderr, bad.want) {
					t.Errorf("load %s: exit %d, want an error with %q:\n%s%s", filepath.Base(bad.archive), r.code, bad.want, r.stdout, r.stderr)
				}
				if got := d.must(cli, "images", "-aq"); got != "" {
					t.Errorf("load %s left images: %s", filepath.Base(bad.archive), got)
				}
				if n := blobCount(d); n != emptyBlobs {
					t.Errorf("load %s left %d blobs (had %d)", filepath.Base(bad.archive), n, emptyBlobs)
				}
			}
		})
	}
}
