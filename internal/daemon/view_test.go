package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/berthproject/berth/internal/container"
	ctypes "github.com/moby/moby/api/types/container"
	nettypes "github.com/moby/moby/api/types/network"
)

// listDaemon is a daemon holding n created containers on the default bridge, with their
// network configuration recorded as `docker create` leaves it: enough of a Daemon for
// ContainerList.
func listDaemon(tb testing.TB, n int) *Daemon {
	tb.Helper()
	store, err := container.Open(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	bridge := &bridgeNet{def: netDef{ID: "0ed5083dbfb3411a9ba515f796b379de2f46ae921007801cc8f41bdc117eb0b1", Name: "bridge", Default: true}}
	d := &Daemon{containers: store, cfg: &Config{}, net: &netController{
		nets: map[string]*bridgeNet{bridge.def.ID: bridge}, eps: map[string][]*endpoint{},
		configs: &netConfigs{raw: map[string][]byte{}},
	}}
	created := time.Now().Add(-time.Hour)
	for i := range n {
		sum := sha256.Sum256(fmt.Appendf(nil, "container %d", i))
		c := &container.Container{ID: hex.EncodeToString(sum[:]), Name: fmt.Sprint("ps-", i), Created: created.Add(time.Duration(i) * time.Millisecond),
			Image: "busybox", ImageID: "sha256:933ad74ff38a6df5cf23a6f685d1ef6d96f20cc1d0f3ac4258f00447b9860b17",
			Config: &ctypes.Config{Image: "busybox", Cmd: []string{"true"}}, HostConfig: &ctypes.HostConfig{NetworkMode: "bridge"},
			Path: "true", Status: container.StatusCreated}
		if err := store.Save(c); err != nil {
			tb.Fatal(err)
		}
		cfg, _ := json.Marshal(map[string]*nettypes.EndpointSettings{"bridge": {}})
		d.net.configs.raw[c.ID] = cfg
	}
	return d
}

// BenchmarkContainerList is GET /containers/json?all=1 over 1000 created containers: the
// summaries and their encoding (as api's writeJSONSeq encodes them).
func BenchmarkContainerList(b *testing.B) {
	d := listDaemon(b, 1000)
	b.ReportAllocs()
	for b.Loop() {
		seq, err := d.ContainerList(context.Background(), container.ListOptions{All: true})
		if err != nil {
			b.Fatal(err)
		}
		enc := json.NewEncoder(io.Discard)
		for s := range seq {
			enc.Encode(&s)
		}
	}
}
