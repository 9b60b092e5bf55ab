package engine_test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// registry is Debian's docker-registry (distribution 2.8) on 127.0.0.1, started by a test with
// its own storage and stopped by pid.
type registry struct {
	host string // 127.0.0.1:PORT
	dir  string
}

func startRegistry(t *testing.T, extraConfig string) *registry {
	t.Helper()
	return startRegistryOn(t, "127.0.0.1", extraConfig)
}

// startRegistryOn is startRegistry listening on ip (an address of a bridge the test made).
func startRegistryOn(t *testing.T, ip, extraConfig string) *registry {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Skip("docker-registry is not installed (hack/install-deps.sh installs it)")
	}
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n%s",
		filepath.Join(dir, "storage"), host, extraConfig)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", cfgPath)
	logf, _ := os.Create(filepath.Join(dir, "registry.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		logf.Close()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + host + "/v2/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "registry.log"))
			t.Fatalf("registry did not come up: %v\n%s", err, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &registry{host: host, dir: dir}
}

// busyboxImage is the busybox rootfs as a one-layer (gzip) image for a platform.
func busyboxImage(t *testing.T, arch string) v1.Image {
	t.Helper()
	path, _ := busyboxTar(t)
	layer, err := tarball.LayerFromFile(path, tarball.WithMediaType(types.DockerLayer))
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.MediaType(img, types.DockerManifestSchema2)
	img = mutate.ConfigMediaType(img, types.DockerConfigJSON)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Config.Cmd = []string{"sh"}
	cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "BUILT_FOR=" + arch}
	cf.Created = v1.Time{Time: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func pushTo(t *testing.T, ref string, img v1.Image) string {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return d.String()
}

func TestPullFromRegistry(t *testing.T) {
	reg := startRegistry(t, "")
	d := startDaemon(t)
	ref := reg.host + "/tools/busybox:1.0"
	mdigest := pushTo(t, ref, busyboxImage(t, "amd64"))
	for _, cli := range clients() {
		t.Run(filepath.Base(cli), func(t *testing.T) {
			d.t = t
			r := d.run(cli, "pull", ref)
			if r.code != 0 {
				t.Fatalf("pull: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			for _, want := range []string{"1.0: Pulling from tools/busybox", "Pull complete", "Digest: " + mdigest,
				"Status: Downloaded newer image for " + ref, "\n" + ref + "\n"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("pull output lacks %q:\n%s", want, r.stdout)
				}
			}
			if got := d.must(cli, "pull", "-q", ref); got != ref {
				t.Errorf("pull -q printed %q, want %q", got, ref)
			}
			if r := d.must(cli, "pull", ref); !strings.Contains(r, "Status: Image is up to date for "+ref) {
				t.Errorf("second pull: %s", r)
			}
			digests := d.must(cli, "image", "inspect", "-f", "{{json .RepoDigests}} {{.Architecture}} {{len .RootFS.Layers}}", ref)
			if want := fmt.Sprintf(`["%s/tools/busybox@%s"] amd64 1`, reg.host, mdigest); digests != want {
				t.Errorf("inspect: %s, want %s", digests, want)
			}
			if out := d.must(cli, "run", "--rm", ref, "sh", "-c", "echo hi $BUILT_FOR"); out != "hi amd64" {
				t.Errorf("run: %q", out)
			}
			// A pulled (gzip) image saves with plain layers and loads back with its ID.
			archive := filepath.Join(t.TempDir(), "pulled.tar")
			id := d.must(cli, "image", "inspect", "-f", "{{.ID}}", ref)
			d.must(cli, "save", "-o", archive, ref)
			d.must(cli, "rmi", ref)
			d.must(cli, "load", "-q", "-i", archive)
			if got := d.must(cli, "image", "inspect", "-f", "{{.ID}}", ref); got != id {
				t.Errorf("loaded %s, want %s", got, id)
			}
			d.must(cli, "rmi", ref)
			// By digest, then a run of a missing image pulls it first.
			byDigest := reg.host + "/tools/busybox@" + mdigest
			r = d.run(cli, "pull", byDigest)
			if r.code != 0 || !strings.Contains(r.stdout, "Status: Downloaded newer image for "+byDigest) {
				t.Fatalf("pull by digest: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			d.must(cli, "rmi", byDigest)
			r = d.run(cli, "run", "--rm", "--pull", "never", ref, "true")
			if r.code != 125 || !strings.Contains(r.stderr, "No such image") {
				t.Errorf("run --pull never: exit %d %s", r.code, r.stderr)
			}
			r = d.run(cli, "run", "--rm", ref, "echo", "pulled")
			if r.code != 0 || r.stdout != "pulled\n" || !strings.Contains(r.stderr, "Unable to find image '"+ref+"' locally") ||
				!strings.Contains(r.stderr, "Pull complete") {
				t.Errorf("run of a missing image: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			d.must(cli, "rmi", ref)
			// A missing tag is the registry's 404, as dockerd words it.
			r = d.run(cli, "pull", reg.host+"/tools/busybox:nope")
			if r.code != 1 || !strings.Contains(r.stderr, "manifest for "+reg.host+"/tools/busybox:nope not found") {
				t.Errorf("pull of a missing tag: exit %d %s", r.code, r.stderr)
			}
			if out := d.must(cli, "images", "-q"); out != "" {
				t.Errorf("images left: %s", out)
			}
		})
	}
}

func TestPullPlatformFromIndex(t *testing.T) {
	reg := startRegistry(t, "")
	d := startDaemon(t)
	amd, arm := busyboxImage(t, "amd64"), busyboxImage(t, "arm64")
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}})
	ref := reg.host + "/multi:latest"
	r, _ := name.ParseReference(ref, name.Insecure)
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatal(err)
	}
	idxDigest, _ := idx.Digest()
	for _, cli := range clients() {
		t.Run(filepath.Base(cli), func(t *testing.T) {
			d.t = t
			d.must(cli, "pull", "--platform", "linux/arm64", ref)
			if got := d.must(cli, "image", "inspect", "-f", "{{.Architecture}} {{json .RepoDigests}}", ref); got != fmt.Sprintf(`arm64 ["%s/multi@%s"]`, reg.host, idxDigest) {
				t.Errorf("--platform linux/arm64: %s", got)
			}
			d.must(cli, "rmi", ref)
			d.must(cli, "pull", ref)
			if got := d.must(cli, "image", "inspect", "-f", "{{.Architecture}}", ref); got != "amd64" {
				t.Errorf("default platform: %s", got)
			}
			d.must(cli, "rmi", ref)
			r := d.run(cli, "pull", "--platform", "linux/s390x", ref)
			if r.code == 0 || !strings.Contains(r.stderr, "no matching manifest for linux/s390x in the manifest list entries") {
				t.Errorf("missing platform: exit %d %s", r.code, r.stderr)
			}
		})
	}
}

func TestPushToRegistry(t *testing.T) {
	reg := startRegistry(t, "")
	d := withBusybox(t)
	for i, cli := range clients() {
		t.Run(filepath.Base(cli), func(t *testing.T) {
			d.t = t
			ref := fmt.Sprintf("%s/pushed/busybox:v%d", reg.host, i)
			d.must(cli, "tag", "busybox", ref)
			r := d.run(cli, "push", ref)
			if r.code != 0 {
				t.Fatalf("push: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			for _, want := range []string{"The push refers to repository [" + reg.host + "/pushed/busybox]", fmt.Sprintf("v%d: digest: sha256:", i)} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("push output lacks %q:\n%s", want, r.stdout)
				}
			}
			if i == 0 && !strings.Contains(r.stdout, ": Pushed") {
				t.Errorf("first push did not push a layer:\n%s", r.stdout)
			}
			if r := d.must(cli, "push", ref); !strings.Contains(r, "Layer already exists") {
				t.Errorf("second push:\n%s", r)
			}
			if got := d.must(cli, "image", "inspect", "-f", "{{len .RepoDigests}}", ref); got != "1" {
				t.Errorf("RepoDigests after push: %s", got)
			}
			d.must(cli, "rmi", ref)
			d.must(cli, "pull", ref)
			if out := d.must(cli, "run", "--rm", ref, "echo", "round trip"); out != "round trip" {
				t.Errorf("run: %q", out)
			}
			d.must(cli, "rmi", ref)
			r = d.run(cli, "push", reg.host+"/pushed/nothing:here")
			if r.code != 1 || !strings.Contains(r.stderr, "does not exist") {
				t.Errorf("push of a missing image: exit %d %s", r.code, r.stderr)
			}
		})
	}
}

func TestPushPullWithLogin(t *testing.T) {
	htpasswd, err := exec.LookPath("htpasswd")
	if err != nil {
		t.Skip("htpasswd (apache2-utils) is not installed")
	}
	dir := t.TempDir()
	pw := filepath.Join(dir, "htpasswd")
	if out, err := exec.Command(htpasswd, "-Bbc", pw, "alice", "s3cret").CombinedOutput(); err != nil {
		t.Fatalf("htpasswd: %v %s", err, out)
	}
	reg := startRegistry(t, fmt.Sprintf("auth:\n  htpasswd:\n    realm: test\n    path: %s\n", pw))
	d := withBusybox(t)
	env := []string{"BERTH_CONFIG=" + filepath.Join(dir, "berth")}
	for i, cli := range clients() {
		t.Run(filepath.Base(cli), func(t *testing.T) {
			d.t = t
			ref := fmt.Sprintf("%s/private/busybox:v%d", reg.host, i)

			d.must(cli, "tag", "busybox", ref)
			if r := d.runEnv(env, nil, cli, "push", ref); r.code != 1 || !strings.Contains(r.stderr, "authentication required") {
				t.Errorf("push without login: exit %d %s%s", r.code, r.stdout, r.stderr)
			}
			if r := d.runEnv(env, strings.NewReader("wrong\n"), cli, "login", "-u", "alice", "--password-stdin", reg.host); r.code != 1 {
				t.Errorf("login with a wrong password: exit %d %s%s", r.code, r.stdout, r.stderr)
			}
			if r := d.runEnv(env, strings.NewReader("s3cret\n"), cli, "login", "-u", "alice", "--password-stdin", reg.host); r.code != 0 || !strings.Contains(r.stdout, "Login Succeeded") {
				t.Fatalf("login: exit %d %s%s", r.code, r.stdout, r.stderr)
			}
			if r := d.runEnv(env, nil, cli, "push", ref); r.code != 0 {
				t.Fatalf("push after login: exit %d %s%s", r.code, r.stdout, r.stderr)
			}
			d.must(cli, "rmi", ref)
			if r := d.runEnv(env, nil, cli, "pull", ref); r.code != 0 {
				t.Fatalf("pull after login: exit %d %s%s", r.code, r.stdout, r.stderr)
			}
			d.must(cli, "rmi", ref)
			if r := d.runEnv(env, nil, cli, "logout", reg.host); r.code != 0 || !strings.Contains(r.stdout, "Removing login credentials for "+reg.host) {
				t.Errorf("logout: exit %d %s%s", r.code, r.stdout, r.stderr)
			}
			// docker's CLI answers a 401 on pull with an interactive login: only berth's is checked.
			if cli != berthBin() {
				return
			}
			if r := d.runEnv(env, nil, cli, "pull", ref); r.code != 1 {
				t.Errorf("pull after logout: exit %d %s%s", r.code, r.stdout, r.stderr)
			}
		})
	}
}

func TestSaveLoad(t *testing.T) {
	d := withBusybox(t)
	d.must(dockerCLI, "tag", "busybox", "busybox:extra")
	id := d.must(dockerCLI, "image", "inspect", "-f", "{{.ID}}", "busybox")
	for _, cli := range clients() {
		t.Run(filepath.Base(cli), func(t *testing.T) {
			d.t = t
			archive := filepath.Join(t.TempDir(), "images.tar")
			d.must(cli, "save", "-o", archive, "busybox", "busybox:extra")
			out, err := exec.Command("tar", "-tf", archive).Output()
			if err != nil || !strings.Contains(string(out), "manifest.json") {
				t.Fatalf("archive: %v %s", err, out)
			}
			d.must(cli, "rmi", "busybox", "busybox:extra")
			r := d.run(cli, "load", "-i", archive)
			if r.code != 0 || !strings.Contains(r.stdout, "Loaded image: busybox:latest") || !strings.Contains(r.stdout, "Loaded image: busybox:extra") {
				t.Fatalf("load: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			if got := d.must(cli, "image", "inspect", "-f", "{{.ID}}", "busybox:extra"); got != id {
				t.Errorf("loaded image ID %s, want %s", got, id)
			}
			if out := d.must(cli, "run", "--rm", "busybox", "echo", "loaded"); out != "loaded" {
				t.Errorf("run: %q", out)
			}
			if r := d.runIn(archive, cli, "load", "-q"); r.code != 0 {
				t.Errorf("load -q from stdin: exit %d %s", r.code, r.stderr)
			}
			if r := d.run(cli, "save", "-o", archive, "nosuchimage"); r.code != 1 || !strings.Contains(r.stderr, "No such image") {
				t.Errorf("save of a missing image: exit %d %s", r.code, r.stderr)
			}
		})
	}
}

func TestSaveHistory(t *testing.T) {
	d := withBusybox(t)
	id := d.must(dockerCLI, "image", "inspect", "-f", "{{.ID}}", "busybox")
	for _, cli := range clients() {
		t.Run(filepath.Base(cli), func(t *testing.T) {
			d.t = t
			if got := d.must(cli, "history", "-q", "--no-trunc", "busybox"); got != id {
				t.Errorf("history -q --no-trunc: %q, want %q", got, id)
			}
			if got := d.must(cli, "image", "history", "--format", "{{.ID}} {{.Comment}}", "busybox"); got != strings.TrimPrefix(id, "sha256:")[:12]+" Imported from -" {
				t.Errorf("history --format: %q", got)
			}
			out := d.must(cli, "history", "busybox")
			if !strings.HasPrefix(out, "IMAGE ") || !strings.Contains(out, "CREATED BY") || !strings.Contains(out, "Imported from -") {
				t.Errorf("history:\n%s", out)
			}
			if r := d.run(cli, "history", "nosuch"); r.code != 1 || !strings.Contains(r.stderr, "No such image: nosuch:latest") {
				t.Errorf("history of a missing image: exit %d %s", r.code, r.stderr)
			}
		})
	}
}

func TestSaveThenImagePrune(t *testing.T) {
	d := withBusybox(t)
	tarPath, _ := busyboxTar(t)
	for _, cli := range clients() {
		t.Run(filepath.Base(cli), func(t *testing.T) {
			d.t = t
			// A dangling image (imported without a name) goes with a plain prune; tagged ones stay.
			if r := d.runIn(tarPath, cli, "import", "-c", "LABEL keep=no", "-", ""); r.code != 0 {
				t.Fatalf("import: %s", r.stderr)
			}
			out := d.must(cli, "image", "prune", "-f")
			if !strings.Contains(out, "Deleted Images:\ndeleted: sha256:") || !strings.Contains(out, "Total reclaimed space:") {
				t.Errorf("image prune:\n%s", out)
			}
			if got := d.must(cli, "images", "-q"); len(strings.Fields(got)) != 1 {
				t.Errorf("images after prune: %q", got)
			}
			// -a with a label filter: only the matching unused image goes.
			if r := d.runIn(tarPath, cli, "import", "-c", "LABEL prune=me", "-", "pruneme:1"); r.code != 0 {
				t.Fatalf("import: %s", r.stderr)
			}
			out = d.must(cli, "image", "prune", "-a", "-f", "--filter", "label=prune=me")
			if !strings.Contains(out, "untagged: pruneme:1") {
				t.Errorf("image prune -a --filter label:\n%s", out)
			}
			if got := d.must(cli, "images", "--format", "{{.Repository}}"); got != "busybox" {
				t.Errorf("images after prune -a: %q", got)
			}
		})
	}
}

func TestPullFromMirror(t *testing.T) {
	reg := startRegistry(t, "")
	d := startDaemon(t, "--registry-mirror", "http://"+reg.host)
	mdigest := pushTo(t, reg.host+"/library/mirrored:1", busyboxImage(t, "amd64"))
	for _, cli := range clients() {
		t.Run(filepath.Base(cli), func(t *testing.T) {
			d.t = t
			r := d.run(cli, "pull", "mirrored:1")
			if r.code != 0 || !strings.Contains(r.stdout, "Status: Downloaded newer image for mirrored:1") || !strings.Contains(r.stdout, "docker.io/library/mirrored:1") {
				t.Fatalf("pull through the mirror: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			if got := d.must(cli, "image", "inspect", "-f", "{{json .RepoDigests}}", "mirrored:1"); got != `["mirrored@`+mdigest+`"]` {
				t.Errorf("RepoDigests: %s", got)
			}
			d.must(cli, "rmi", "mirrored:1")
		})
	}
}
