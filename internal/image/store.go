// Package image is berth's image service: image records and their tags over the content store,
// unpacked into snapshots. An image's ID is the digest of its OCI config, as in Docker, so
// several tags can name one image.
package image

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/berthproject/berth/internal/metadata"

	"github.com/berthproject/berth/internal/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"
)

// Metadata schema (bbolt, <root>/metadata.db):
//
//	bucket "meta":   "schema" -> "1"
//	bucket "images": image ID (config digest) -> JSON Record
//	bucket "tags":   normalized reference ("docker.io/library/busybox:latest") -> image ID
const schemaVersion = "1"

var (
	bucketImages = []byte("images")
	bucketTags   = []byte("tags")
)

// Record is what berth keeps of an image besides its blobs.
type Record struct {
	ID          digest.Digest `json:"id"`       // the config's digest
	Manifest    digest.Digest `json:"manifest"` // the OCI manifest's digest
	ChainID     digest.Digest `json:"chain_id"` // the committed snapshot of its top layer
	Created     time.Time     `json:"created"`
	Size        int64         `json:"size"` // unpacked size
	LastTagTime time.Time     `json:"last_tag_time,omitempty"`
	RepoDigests []string      `json:"repo_digests,omitempty"` // "docker.io/library/busybox@sha256:…" it was pulled by
	Parent      digest.Digest `json:"parent,omitempty"`       // the image a build step was made on
}

type store struct {
	db *bolt.DB
}

func openStore(root string) (*store, error) {
	db, err := metadata.Open(filepath.Join(root, "metadata.db"), schemaVersion, bucketImages, bucketTags)
	if err != nil {
		return nil, err
	}
	return &store{db: db}, nil
}

// ParseReference normalizes a name as Docker does ("busybox" is docker.io/library/busybox:latest).
func ParseReference(s string) (reference.Named, error) {
	ref, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return nil, errdefs.InvalidArgument(fmt.Errorf("invalid reference format: %w", err))
	}
	return reference.TagNameOnly(ref), nil
}

func getRecord(tx *bolt.Tx, id digest.Digest) (Record, bool) {
	v := tx.Bucket(bucketImages).Get([]byte(id))
	if v == nil {
		return Record{}, false
	}
	var r Record
	return r, json.Unmarshal(v, &r) == nil
}

func putRecord(tx *bolt.Tx, r Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketImages).Put([]byte(r.ID), b)
}

// resolve finds an image by full or short ID ("sha256:abc…", "abc…", at least a unique prefix)
// or by reference.
func resolve(tx *bolt.Tx, name string) (Record, error) {
	if ref, err := ParseReference(name); err == nil {
		if id := tx.Bucket(bucketTags).Get([]byte(ref.String())); id != nil {
			if r, ok := getRecord(tx, digest.Digest(id)); ok {
				return r, nil
			}
		}
		if r, ok := byRepoDigest(tx, ref); ok {
			return r, nil
		}
	}
	hex := strings.TrimPrefix(name, "sha256:")
	if len(hex) > 0 && len(hex) <= 64 && strings.Trim(hex, "0123456789abcdef") == "" {
		var found []Record
		tx.Bucket(bucketImages).ForEach(func(k, v []byte) error {
			if strings.HasPrefix(strings.TrimPrefix(string(k), "sha256:"), hex) {
				var r Record
				if json.Unmarshal(v, &r) == nil {
					found = append(found, r)
				}
			}
			return nil
		})
		if len(found) == 1 {
			return found[0], nil
		}
		if len(found) > 1 {
			return Record{}, errdefs.InvalidArgument(fmt.Errorf("multiple IDs found with provided prefix: %s", hex))
		}
	}
	if ref, err := ParseReference(name); err == nil {
		name = reference.FamiliarString(ref) // as Docker: "No such image: busybox:latest"
	}
	return Record{}, errdefs.NotFound(fmt.Errorf("No such image: %s", name))
}

// tagsOf lists the references that name id, sorted.
func tagsOf(tx *bolt.Tx, id digest.Digest) []string {
	var out []string
	tx.Bucket(bucketTags).ForEach(func(k, v []byte) error {
		if digest.Digest(v) == id {
			out = append(out, string(k))
		}
		return nil
	})
	sort.Strings(out)
	return out
}
