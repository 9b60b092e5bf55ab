package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/berthproject/berth/internal/errdefs"
	"github.com/distribution/reference"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	imagetypes "github.com/moby/moby/api/types/image"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"
)

func familiar(ref string) string {
	if n, err := reference.ParseNormalizedNamed(ref); err == nil {
		return reference.FamiliarString(n)
	}
	return ref
}

func (s *Service) config(id digest.Digest) (ocispec.Image, error) {
	var img ocispec.Image
	f, err := s.content.Open(id)
	if err != nil {
		return img, err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return img, err
	}
	return img, json.Unmarshal(b, &img)
}

// List answers GET /images/json: one summary per image, newest first.
func (s *Service) List(ctx context.Context) ([]imagetypes.Summary, error) {
	var out []imagetypes.Summary
	err := s.store.db.View(func(tx *bolt.Tx) error {
		children := childCounts(tx)
		return tx.Bucket(bucketImages).ForEach(func(k, v []byte) error {
			var r Record
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			if intermediate(tx, r, children) {
				return nil // as Docker's `images` without -a
			}
			tags := []string{}
			for _, t := range tagsOf(tx, r.ID) {
				tags = append(tags, familiar(t))
			}
			labels := map[string]string{}
			if img, err := s.config(r.ID); err == nil && img.Config.Labels != nil {
				labels = img.Config.Labels
			}
			out = append(out, imagetypes.Summary{
				ID: r.ID.String(), RepoTags: tags, RepoDigests: familiarAll(r.RepoDigests), Created: r.Created.Unix(),
				Size: r.Size, Labels: labels, Containers: -1, SharedSize: -1,
			})
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Created > out[j].Created })
	return out, err
}

// Inspect answers GET /images/{name}/json.
func (s *Service) Inspect(ctx context.Context, name string) (*imagetypes.InspectResponse, error) {
	var r Record
	var tags []string
	err := s.store.db.View(func(tx *bolt.Tx) error {
		var err error
		if r, err = resolve(tx, name); err != nil {
			return err
		}
		tags = tagsOf(tx, r.ID)
		return nil
	})
	if err != nil {
		return nil, err
	}
	img, err := s.config(r.ID)
	if err != nil {
		return nil, err
	}
	resp := &imagetypes.InspectResponse{
		ID: r.ID.String(), RepoTags: []string{}, RepoDigests: familiarAll(r.RepoDigests),
		Config:       s.dockerConfig(r.ID, img.Config),
		Architecture: img.Architecture, Os: img.OS, Size: r.Size, Author: img.Author,
		RootFS: imagetypes.RootFS{Type: img.RootFS.Type},
	}
	if img.Created != nil {
		resp.Created = img.Created.Format(time.RFC3339Nano)
	}
	if len(img.History) > 0 {
		resp.Comment = img.History[len(img.History)-1].Comment
	}
	for _, t := range tags {
		resp.RepoTags = append(resp.RepoTags, familiar(t))
	}
	for _, d := range img.RootFS.DiffIDs {
		resp.RootFS.Layers = append(resp.RootFS.Layers, d.String())
	}
	if !r.LastTagTime.IsZero() {
		resp.Metadata.LastTagTime = r.LastTagTime
	}
	return resp, nil
}

// Tag points ref at the image name resolves to (moving ref if it named another image).
func (s *Service) Tag(ctx context.Context, name, ref string) error {
	n, err := ParseReference(ref)
	if err != nil {
		return err
	}
	if _, ok := n.(reference.Digested); ok {
		return errdefs.InvalidArgument(fmt.Errorf("refusing to create a tag with a digest reference"))
	}
	return s.store.db.Update(func(tx *bolt.Tx) error {
		r, err := resolve(tx, name)
		if err != nil {
			return err
		}
		r.LastTagTime = time.Now().UTC()
		if err := putRecord(tx, r); err != nil {
			return err
		}
		return tx.Bucket(bucketTags).Put([]byte(n.String()), []byte(r.ID))
	})
}

// Delete answers DELETE /images/{name}: a tag that is not the image's last is only untagged;
// otherwise the image and what no other image shares (blobs, snapshot) are removed.
// ImageUser reports a container that uses image id ("" for none), and whether it runs.
type ImageUser func(id string) (container string, running bool)

func (s *Service) Delete(ctx context.Context, name string, force bool, users ImageUser) ([]imagetypes.DeleteResponse, error) {
	var out []imagetypes.DeleteResponse
	var removed *Record
	err := s.store.db.Update(func(tx *bolt.Tx) error {
		r, err := resolve(tx, name)
		if err != nil {
			return err
		}
		tags := tagsOf(tx, r.ID)
		byRef := ""
		if ref, err := ParseReference(name); err == nil {
			for _, t := range tags {
				if t == ref.String() {
					byRef = t
				}
			}
		}
		switch {
		case byRef != "" && len(tags) > 1:
			out = append(out, imagetypes.DeleteResponse{Untagged: familiar(byRef)})
			return tx.Bucket(bucketTags).Delete([]byte(byRef))
		case byRef == "" && len(tags) > 1 && !force:
			return errdefs.Conflict(fmt.Errorf("conflict: unable to delete %s (must be forced) - image is referenced in multiple repositories", shortID(r.ID)))
		}
		// A container's filesystem is built on the image: untag, never delete under it. As
		// Docker: a forced untag of a name is quiet about the users; deleting by ID while a
		// container runs on it cannot be forced.
		keep := false
		if users != nil {
			if c, running := users(r.ID.String()); c != "" {
				switch {
				case running && byRef == "":
					return errdefs.Conflict(fmt.Errorf("conflict: unable to delete %s (cannot be forced) - image is being used by running container %s", shortID(r.ID), c[:12]))
				case !force && byRef != "":
					return errdefs.Conflict(fmt.Errorf("conflict: unable to remove repository reference %q (must force) - container %s is using its referenced image %s", name, c[:12], shortID(r.ID)))
				case !force:
					return errdefs.Conflict(fmt.Errorf("conflict: unable to delete %s (must be forced) - image is being used by stopped container %s", shortID(r.ID), c[:12]))
				}
				keep = true
			}
		}
		// An image others were built on stays (untagged) as long as they do; by ID it is refused.
		if childCounts(tx)[r.ID] > 0 {
			if byRef == "" && !keep {
				return errdefs.Conflict(fmt.Errorf("conflict: unable to delete %s (cannot be forced) - image has dependent child images", shortID(r.ID)))
			}
			keep = true
		}
		for _, t := range tags {
			if err := tx.Bucket(bucketTags).Delete([]byte(t)); err != nil {
				return err
			}
			out = append(out, imagetypes.DeleteResponse{Untagged: familiar(t)})
		}
		if keep {
			return nil
		}
		if err := tx.Bucket(bucketImages).Delete([]byte(r.ID)); err != nil {
			return err
		}
		out = append(out, imagetypes.DeleteResponse{Deleted: r.ID.String()})
		removed = &r
		return nil
	})
	if err != nil || removed == nil {
		return out, err
	}
	// Blobs and the snapshot go after the record; what another image still uses stays.
	shared := false
	s.store.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketImages).ForEach(func(k, v []byte) error {
			var o Record
			if json.Unmarshal(v, &o) == nil && o.ChainID == removed.ChainID {
				shared = true
			}
			return nil
		})
	})
	s.release(ctx, *removed, shared)
	return append(out, s.releaseParents(ctx, removed.Parent, users)...), nil
}

// releaseParents removes the untagged build steps below a removed image that nothing else uses
// any more, as Docker removes a built image's intermediate images with it.
func (s *Service) releaseParents(ctx context.Context, id digest.Digest, users ImageUser) []imagetypes.DeleteResponse {
	var out []imagetypes.DeleteResponse
	for id != "" && id != scratchParent {
		if users != nil {
			if c, _ := users(id.String()); c != "" {
				break
			}
		}
		var r Record
		err := s.store.db.Update(func(tx *bolt.Tx) error {
			var ok bool
			if r, ok = getRecord(tx, id); !ok || r.Parent == "" || len(tagsOf(tx, id)) > 0 || childCounts(tx)[id] > 0 {
				return errKeep
			}
			return tx.Bucket(bucketImages).Delete([]byte(id))
		})
		if err != nil {
			break
		}
		out = append(out, imagetypes.DeleteResponse{Deleted: id.String()})
		s.release(ctx, r, false)
		id = r.Parent
	}
	return out
}

var errKeep = errors.New("kept")

func shortID(d digest.Digest) string {
	e := d.Encoded()
	if len(e) > 12 {
		e = e[:12]
	}
	return e
}

// Resolved is what running a container needs of its image.
type Resolved struct {
	ID      digest.Digest
	ChainID digest.Digest
	Config  ocispec.ImageConfig
	Size    int64 // unpacked
	// Healthcheck is the image's HEALTHCHECK (Docker's extension of the OCI config), if any.
	Healthcheck *dockerspec.HealthcheckConfig
}

// Resolve finds an image for a container.
func (s *Service) Resolve(ctx context.Context, name string) (*Resolved, error) {
	var r Record
	err := s.store.db.View(func(tx *bolt.Tx) error {
		var err error
		r, err = resolve(tx, name)
		return err
	})
	if err != nil {
		return nil, err
	}
	img, err := s.config(r.ID)
	if err != nil {
		return nil, err
	}
	full := s.dockerConfig(r.ID, img.Config)
	return &Resolved{ID: r.ID, ChainID: r.ChainID, Config: img.Config, Size: r.Size, Healthcheck: full.Healthcheck}, nil
}
