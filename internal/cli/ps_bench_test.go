package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthproject/berth/internal/version"
	ctypes "github.com/moby/moby/api/types/container"
	nettypes "github.com/moby/moby/api/types/network"
)

// fakeListDaemon serves /_ping and a recorded GET /containers/json: n created containers as
// berthd lists them. It returns the -H value to reach it.
func fakeListDaemon(tb testing.TB, n int) string {
	tb.Helper()
	created := time.Now().Add(-time.Hour).Unix()
	list := make([]ctypes.Summary, n)
	for i := range list {
		sum := sha256.Sum256(fmt.Appendf(nil, "container %d", i))
		list[i] = ctypes.Summary{
			ID: hex.EncodeToString(sum[:]), Names: []string{fmt.Sprintf("/ps-%d", n-i)}, Image: "busybox",
			ImageID: "sha256:933ad74ff38a6df5cf23a6f685d1ef6d96f20cc1d0f3ac4258f00447b9860b17",
			Command: "true", Created: created, Ports: []ctypes.PortSummary{}, Labels: map[string]string{},
			State: "created", Status: "Created", Mounts: []ctypes.MountPoint{},
			NetworkSettings: &ctypes.NetworkSettingsSummary{Networks: map[string]*nettypes.EndpointSettings{
				"bridge": {NetworkID: "0ed5083dbfb3411a9ba515f796b379de2f46ae921007801cc8f41bdc117eb0b1"},
			}},
		}
	}
	body, err := json.Marshal(list)
	if err != nil {
		tb.Fatal(err)
	}
	sock := filepath.Join(tb.TempDir(), "api.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", version.APIVersion)
		switch {
		case r.URL.Path == "/_ping":
			io.WriteString(w, "OK")
		case strings.HasSuffix(r.URL.Path, "/containers/json"):
			w.Header().Set("Content-Type", "application/json")
			w.Write(body)
		default:
			http.NotFound(w, r)
		}
	})}
	go srv.Serve(l)
	tb.Cleanup(func() { srv.Close() })
	return "unix://" + sock
}

// BenchmarkPsAll is `berth ps -a` with 1000 containers, from argument parsing to the printed
// table: the API client's decoding and the formatting. Its CPU profile is cmd/berth/default.pgo
// (make pgo).
func BenchmarkPsAll(b *testing.B) {
	host := fakeListDaemon(b, 1000)
	for b.Loop() {
		if rc := Main([]string{"-H", host, "ps", "-a"}, nil, io.Discard, io.Discard); rc != 0 {
			b.Fatalf("exit %d", rc)
		}
	}
}
