package daemon

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/berthproject/berth/internal/metadata"
)

// A container's decoded network configuration is shared until it changes, then decoded anew.
func TestNetConfigsSharedUntilChanged(t *testing.T) {
	db, err := metadata.Open(filepath.Join(t.TempDir(), "metadata.db"), netSchema, bucketNetworks, bucketContainers)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := loadNetConfigs(db)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.shared("c1"); ok {
		t.Fatal("a configuration for a container without one")
	}
	aliases := func() []string {
		m, ok := s.shared("c1")
		if !ok {
			t.Fatal("no configuration")
		}
		return m["u"].Aliases
	}
	s.put("c1", []byte(`{"u":{"Aliases":["a"]}}`))
	if got := aliases(); !slices.Equal(got, []string{"a"}) {
		t.Errorf("got %v", got)
	}
	s.put("c1", []byte(`{"u":{"Aliases":["b"]}}`))
	if got := aliases(); !slices.Equal(got, []string{"b"}) {
		t.Errorf("after a change: got %v", got)
	}
	s.remove("c1")
	if _, ok := s.shared("c1"); ok {
		t.Error("a removed configuration is still shared")
	}
}
