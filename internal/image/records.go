package image

import (
	"encoding/json"

	bolt "go.etcd.io/bbolt"
)

// records lists every image record.
func (s *Service) records() []Record {
	var out []Record
	s.store.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketImages).ForEach(func(k, v []byte) error {
			var r Record
			if json.Unmarshal(v, &r) == nil {
				out = append(out, r)
			}
			return nil
		})
	})
	return out
}

// extractPrefix keys the active snapshot a layer is unpacked into before it is committed.
const extractPrefix = "extract-"
