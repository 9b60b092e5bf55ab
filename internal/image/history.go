package image

import (
	"context"

	imagetypes "github.com/moby/moby/api/types/image"
	"github.com/opencontainers/image-spec/identity"
	bolt "go.etcd.io/bbolt"
)

// History answers GET /images/{name}/history: the config's history, newest first, each entry
// that made a layer with that layer's size; only the newest carries the image's ID and tags.
func (s *Service) History(ctx context.Context, name string) ([]imagetypes.HistoryResponseItem, error) {
	rec, err := s.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	img, err := s.config(rec.ID)
	if err != nil {
		return nil, err
	}
	layerSize := func(i int) int64 {
		if i >= len(img.RootFS.DiffIDs) {
			return 0
		}
		n, _ := s.snaps.Size(ctx, identity.ChainID(img.RootFS.DiffIDs[:i+1]).String())
		return n
	}
	var items []imagetypes.HistoryResponseItem
	layer := 0
	for _, h := range img.History {
		it := imagetypes.HistoryResponseItem{ID: "<missing>", CreatedBy: h.CreatedBy, Comment: h.Comment, Tags: nil}
		if h.Created != nil {
			it.Created = h.Created.Unix()
		}
		if !h.EmptyLayer {
			it.Size = layerSize(layer)
			layer++
		}
		items = append(items, it)
	}
	for ; layer < len(img.RootFS.DiffIDs); layer++ { // layers the history does not tell of
		items = append(items, imagetypes.HistoryResponseItem{ID: "<missing>", Size: layerSize(layer)})
	}
	for i, j := 0, len(items)-1; i < j; i, j = i+1, j-1 {
		items[i], items[j] = items[j], items[i]
	}
	if len(items) > 0 {
		items[0].ID = rec.ID.String()
		s.store.db.View(func(tx *bolt.Tx) error {
			for _, t := range tagsOf(tx, rec.ID) {
				items[0].Tags = append(items[0].Tags, familiar(t))
			}
			return nil
		})
	}
	return items, nil
}
