package engine_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
	bolt "go.etcd.io/bbolt"
)

// dfAPI is GET /system/df's body as docker CLI 28 reads it (API < 1.52).
type dfAPI struct {
	LayersSize int64
	Images     []struct{ Size, SharedSize, Containers int64 }
	Containers []struct{ SizeRw int64 }
	Volumes    []struct {
		Name      string
		UsageData struct{ Size, RefCount int64 }
	}
}

func (d *daemon) diskUsage() dfAPI {
	d.t.Helper()
	resp, err := d.get("/v1.47/system/df")
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	var du dfAPI
	if err := json.NewDecoder(resp.Body).Decode(&du); err != nil {
		d.t.Fatal(err)
	}
	return du
}

// duBytes is `du -sb` of paths (apparent sizes, as df reports), and how many directories they
// hold: du counts a directory's own size, df does not.
func duBytes(t *testing.T, paths ...string) (bytes int64, dirs int64) {
	t.Helper()
	for _, p := range paths {
		out, err := exec.Command("du", "-sb", p).Output()
		if err != nil {
			t.Fatalf("du %s: %v", p, err)
		}
		n, _ := strconv.ParseInt(strings.Fields(string(out))[0], 10, 64)
		bytes += n
		filepath.WalkDir(p, func(_ string, e os.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				dirs++
			}
			return nil
		})
	}
	return bytes, dirs
}

// agrees checks a df figure against du's: equal but for du's directory sizes.
func agrees(t *testing.T, what string, df int64, du, dirs int64) {
	t.Helper()
	if df > du || du-df > dirs*4096+4096 {
		t.Errorf("%s: df says %d bytes, du %d (%d directories)", what, df, du, dirs)
	}
}

// TestSystemDfPruneAndGC fills an engine with pulled images that share a layer, containers with
// writes, volumes and a network; checks system df against du of the data root, system prune's
// report, and that once everything is gone the data root holds only empty stores.
func TestSystemDfPruneAndGC(t *testing.T) {
	reg := startRegistry(t, "")
	d := startDaemon(t)
	base := busyboxImage(t, "amd64")
	extra, err := random.Layer(1<<20, types.DockerLayer)
	if err != nil {
		t.Fatal(err)
	}
	derived, err := mutate.AppendLayers(base, extra)
	if err != nil {
		t.Fatal(err)
	}
	refA, refB := reg.host+"/gc/a:1", reg.host+"/gc/b:1"
	pushTo(t, refA, base)
	pushTo(t, refB, derived)
	root := d.dataRoot
	for _, cli := range clients() {
		t.Run(filepath.Base(cli), func(t *testing.T) {
			d.t = t
			d.must(cli, "pull", "-q", refA)
			d.must(cli, "pull", "-q", refB)
			d.must(cli, "run", "--name", "writer", "-v", "/anon", "-v", "named:/named", refB, "sh", "-c",
				"dd if=/dev/zero of=/anon/f bs=1k count=3000 2>/dev/null; dd if=/dev/zero of=/named/f bs=1k count=1000 2>/dev/null; dd if=/dev/zero of=/rootfs-file bs=1k count=2000 2>/dev/null")
			d.must(cli, "run", "-d", "--name", "sleeper", refA, "sleep", "600")
			d.must(cli, "volume", "create", "spare")
			d.must(cli, "network", "create", "gcnet")
			d.must(cli, "commit", "writer", "committed:1")

			du := d.diskUsage()
			if len(du.Images) != 3 || len(du.Containers) != 2 || len(du.Volumes) != 3 {
				t.Fatalf("df items: %d images, %d containers, %d volumes", len(du.Images), len(du.Containers), len(du.Volumes))
			}
			var shared, rw, vols int64
			for _, img := range du.Images {
				shared += img.SharedSize
			}
			for _, c := range du.Containers {
				rw += c.SizeRw
			}
			for _, v := range du.Volumes {
				vols += v.UsageData.Size
			}
			if shared == 0 {
				t.Errorf("images sharing the busybox layer show no shared size: %+v", du.Images)
			}
			// Images are the content store and every snapshot but the containers' own.
			imgBytes, imgDirs := duBytes(t, filepath.Join(root, "content", "blobs"), filepath.Join(root, "snapshots", "overlay", "snapshots"))
			agrees(t, "images + containers", du.LayersSize+rw, imgBytes, imgDirs)
			volData, _ := filepath.Glob(filepath.Join(root, "volumes", "*", "_data"))
			volBytes, volDirs := duBytes(t, volData...)
			agrees(t, "volumes", vols, volBytes, volDirs)
			if rw < 2000<<10 || vols < 4000<<10 {
				t.Errorf("df misses the writes: containers %d, volumes %d", rw, vols)
			}

			out := d.must(cli, "system", "df")
			lines := strings.Split(out, "\n")
			if len(lines) != 5 || strings.Join(strings.Fields(lines[0]), " ") != "TYPE TOTAL ACTIVE SIZE RECLAIMABLE" ||
				!strings.HasPrefix(strings.Join(strings.Fields(lines[1]), " "), "Images 3 2 ") ||
				!strings.HasPrefix(strings.Join(strings.Fields(lines[2]), " "), "Containers 2 1 ") ||
				!strings.HasPrefix(strings.Join(strings.Fields(lines[3]), " "), "Local Volumes 3 2 ") ||
				strings.Join(strings.Fields(lines[4]), " ") != "Build Cache 0 0 0B 0B" {
				t.Errorf("system df:\n%s", out)
			}
			if got := d.must(cli, "system", "df", "--format", "{{.Type}}={{.TotalCount}}"); got != "Images=3\nContainers=2\nLocal Volumes=3\nBuild Cache=0" {
				t.Errorf("system df --format: %q", got)
			}
			out = d.must(cli, "system", "df", "-v")
			for _, want := range []string{"Images space usage:", "SHARED SIZE", "Containers space usage:", "writer", "Local Volumes space usage:", "named ", "Build cache usage: 0B"} {
				if !strings.Contains(out, want) {
					t.Errorf("system df -v lacks %q:\n%s", want, out)
				}
			}

			d.must(cli, "stop", "-t", "0", "sleeper")
			out = d.must(cli, "system", "prune", "-a", "--volumes", "-f")
			for _, want := range []string{"Deleted Containers:\n", "Deleted Networks:\ngcnet\n", "Deleted Volumes:\n", "Deleted Images:\nuntagged: ", "Total reclaimed space: "} {
				if !strings.Contains(out, want) {
					t.Errorf("system prune lacks %q:\n%s", want, out)
				}
			}
			// Named volumes stay: system prune takes anonymous ones only (API 1.42+).
			if got := d.must(cli, "volume", "ls", "-q"); got != "named\nspare" {
				t.Errorf("volumes after prune: %q", got)
			}
			d.must(cli, "volume", "prune", "-af")
			if got := d.must(cli, "system", "df", "--format", "{{.Size}}"); got != "0B\n0B\n0B\n0B" {
				t.Errorf("system df after prune: %q", got)
			}
		})
	}
	d.t = t
	d.stop()
	d.exited <- nil // stopped: let its cleanup see it gone
	checkEmptyDataRoot(t, root)
}

// checkEmptyDataRoot walks an emptied (and stopped) engine's data root: only directories, its
// identity and its databases are left, and those hold no records.
func checkEmptyDataRoot(t *testing.T, root string) {
	t.Helper()
	filepath.WalkDir(root, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			t.Error(err)
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case e.IsDir():
			if entries, _ := os.ReadDir(p); len(entries) == 0 {
				return nil
			}
			// A store's directory that still holds something other than stores is a leak.
			if strings.Count(rel, "/") > 3 {
				t.Errorf("left behind: directory %s", rel)
				return filepath.SkipDir
			}
		case e.Name() == "engine-id":
		case e.Name() == "metadata.db" || e.Name() == "cache.db": // the stores' and the build cache's
			checkEmptyDB(t, p, rel)
		default:
			t.Errorf("left behind: %s", rel)
		}
		return nil
	})
}

func checkEmptyDB(t *testing.T, path, rel string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Errorf("%s: %v", rel, err)
		return
	}
	defer db.Close()
	db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			if string(name) == "meta" {
				return nil
			}
			return b.ForEach(func(k, _ []byte) error {
				t.Errorf("%s: bucket %s still holds %s", rel, name, k)
				return nil
			})
		})
	})
}
