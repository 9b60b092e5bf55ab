package image

import (
	"context"
	"path"
	"strings"

	"github.com/berthproject/berth/internal/filters"
	imagetypes "github.com/moby/moby/api/types/image"
)

var listFilters = []string{"dangling", "reference", "label", "before", "since"}

// Filter applies docker images' --filter to a list: dangling=true|false, reference=pattern
// (path patterns over the familiar name, with or without the tag; only matching tags are kept),
// label=key[=value], before/since=image.
func (s *Service) Filter(ctx context.Context, list []imagetypes.Summary, f filters.Args) ([]imagetypes.Summary, error) {
	if err := f.Validate(listFilters...); err != nil {
		return nil, err
	}
	bound := map[string]int64{}
	for _, key := range []string{"before", "since"} {
		if vs := f[key]; len(vs) > 0 {
			r, err := s.Resolve(ctx, vs[0])
			if err != nil {
				return nil, err
			}
			for _, img := range list {
				if img.ID == r.ID.String() {
					bound[key] = img.Created
				}
			}
		}
	}
	out := []imagetypes.Summary{}
	for _, img := range list {
		if f.Has("dangling") {
			dangling := len(img.RepoTags) == 0
			if !f.MatchFunc("dangling", func(v string) bool { return (v == "true" || v == "1") == dangling }) {
				continue
			}
		}
		if !f.MatchLabels(img.Labels) {
			continue
		}
		if t, ok := bound["before"]; ok && img.Created >= t {
			continue
		}
		if t, ok := bound["since"]; ok && img.Created <= t {
			continue
		}
		if f.Has("reference") {
			var kept []string
			for _, tag := range img.RepoTags {
				repo := tag[:strings.LastIndex(tag, ":")]
				if f.MatchFunc("reference", func(p string) bool {
					m1, _ := path.Match(p, tag)
					m2, _ := path.Match(p, repo)
					return m1 || m2
				}) {
					kept = append(kept, tag)
				}
			}
			if len(kept) == 0 {
				continue
			}
			img.RepoTags = kept
		}
		out = append(out, img)
	}
	return out, nil
}
