// Package metadata opens berth's bbolt databases the same way everywhere: a "meta" bucket holding
// the schema version (a database of another version is refused rather than misread), and the
// store's own buckets created on first use.
package metadata

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

var bucketMeta = []byte("meta")

// Open opens (creating) the database at path for schema version schema with the given buckets.
func Open(path, schema string, buckets ...[]byte) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if v := meta.Get([]byte("schema")); v != nil && string(v) != schema {
			return fmt.Errorf("%s: schema %s is not %s", path, v, schema)
		}
		if err := meta.Put([]byte("schema"), []byte(schema)); err != nil {
			return err
		}
		for _, b := range buckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Meta returns the "meta" bucket of a transaction, for a store's own counters.
func Meta(tx *bolt.Tx) *bolt.Bucket { return tx.Bucket(bucketMeta) }
