package engine_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// TestPullFromBadRegistry pulls from a registry written by the test that answers badly: a
// manifest that is not JSON, one of 16 MiB, one whose digest is not the one asked for, a layer whose bytes do
// not match its digest, a missing repository, refused credentials, and one that never answers.
// Each gives Docker's error (the hanging one ends with its client), nothing is kept and the
// daemon stays up.
func TestPullFromBadRegistry(t *testing.T) {
	img := busyboxImage(t, "amd64")
	manifest, _ := img.RawManifest()
	config, _ := img.RawConfigFile()
	cfgName, _ := img.ConfigName()
	layers, _ := img.Layers()
	layerDigest, _ := layers[0].Digest()
	mt, _ := img.MediaType()
	askedDigest := digest.FromString("some other manifest")
	// The hanging repository never answers; hung says a request arrived, released that its
	// caller gave up on it.
	hung, released := make(chan struct{}, 8), make(chan struct{}, 8)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case p == "/v2/":
			w.WriteHeader(http.StatusOK)
		case strings.HasPrefix(p, "/v2/hang/"):
			hung <- struct{}{}
			<-r.Context().Done()
			released <- struct{}{}
		case strings.HasPrefix(p, "/v2/private/"):
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
		case p == "/v2/bad/huge/manifests/1":
			// 16 MiB of manifest: more than any registry client reads (distribution caps it at 4 MiB).
			w.Header().Set("Content-Type", string(mt))
			io.WriteString(w, `{"schemaVersion":2,"pad":"`+strings.Repeat("A", 16<<20)+`"}`)
		case p == "/v2/bad/malformed/manifests/1":
			w.Header().Set("Content-Type", string(mt))
			io.WriteString(w, "{this is not json")
		case p == "/v2/bad/digest/manifests/"+askedDigest.String():
			w.Header().Set("Content-Type", string(mt))
			w.Write(manifest)
		case p == "/v2/bad/layer/manifests/1":
			w.Header().Set("Content-Type", string(mt))
			w.Header().Set("Docker-Content-Digest", digest.FromBytes(manifest).String())
			w.Write(manifest)
		case p == "/v2/bad/layer/blobs/"+cfgName.String():
			w.Write(config)
		case p == "/v2/bad/layer/blobs/"+layerDigest.String():
			io.WriteString(w, strings.Repeat("not the layer ", 1000))
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}`)
		}
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	d := startDaemon(t)
	for _, cli := range clients() {
		t.Run(filepath.Base(cli), func(t *testing.T) {
			d.t = t
			for _, c := range []struct{ ref, want string }{
				{host + "/bad/malformed:1", "invalid character"},
				{host + "/bad/huge:1", "is too large"},
				{host + "/bad/digest@" + askedDigest.String(), "manifest verification failed for digest " + askedDigest.String()},
				{host + "/bad/layer:1", "filesystem layer verification failed for digest " + layerDigest.String()},
				{host + "/bad/missing:1", fmt.Sprintf("manifest for %s/bad/missing:1 not found", host)},
				{host + "/private/img:1", "authentication required"},
			} {
				if strings.Contains(c.ref, "/private/") && cli == dockerCLI {
					continue // docker's CLI answers a 401 with an interactive login
				}
				r := d.run(cli, "pull", c.ref)
				if r.code != 1 || !strings.Contains(r.stdout+r.stderr, c.want) {
					t.Errorf("pull %s: exit %d, want %q:\n%s%s", c.ref, r.code, c.want, r.stdout, r.stderr)
				}
			}
			if got := d.must(cli, "images", "-aq"); got != "" {
				t.Errorf("images after bad pulls: %q", got)
			}
		})
	}
	// A registry that hangs: the pull waits (as dockerd's does) until its client gives up; then
	// the daemon drops the request, keeps nothing and goes on serving.
	d.t = t
	cmd, out := d.background(nil, berthBin(), "pull", host+"/hang/img:1")
	select {
	case <-hung:
	case <-time.After(20 * time.Second):
		t.Fatalf("the pull never reached the hanging registry: %s", out)
	}
	cmd.Process.Kill() // by pid: the client gives up
	cmd.Wait()
	select {
	case <-released:
	case <-time.After(20 * time.Second):
		srv.CloseClientConnections()
		t.Errorf("berthd kept waiting on the hanging registry after its client went away")
	}
	if got := d.must(dockerCLI, "images", "-aq"); got != "" {
		t.Errorf("images after an abandoned pull: %q", got)
	}
	if n := blobCount(d); n != 0 {
		t.Errorf("%d blobs kept from bad pulls", n)
	}
}
