package metadata

import (
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestSchemaAndBuckets(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.db")
	db, err := Open(p, "1", []byte("things"))
	if err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte("things")) == nil || string(Meta(tx).Get([]byte("schema"))) != "1" {
			t.Error("buckets or schema missing")
		}
		return nil
	})
	db.Close()
	if _, err := Open(p, "2"); err == nil || !strings.Contains(err.Error(), "schema 1 is not 2") {
		t.Fatalf("other schema: %v", err)
	}
}
