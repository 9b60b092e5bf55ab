package distribution

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/berthproject/berth/internal/errdefs"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/moby/moby/api/types/registry"
)

// Search answers a search for term: "HOST[:PORT]/WORDS" lists the repositories of that
// registry's catalog (/v2/_catalog) whose name contains WORDS; a term without a registry goes
// to Docker Hub's search API. At most limit results.
func (r *Registry) Search(ctx context.Context, term string, limit int, auth authn.Authenticator) ([]registry.SearchResult, error) {
	host, words := splitSearchTerm(term)
	if host == "" {
		return r.searchHub(ctx, words, limit)
	}
	var opts []name.Option
	if r.Insecure(host) {
		opts = append(opts, name.Insecure)
	}
	reg, err := name.NewRegistry(host, opts...)
	if err != nil {
		return nil, errdefs.InvalidArgument(err)
	}
	repos, err := remote.Catalog(ctx, reg, r.remoteOptions(ctx, auth)...)
	if err != nil {
		var terr *transport.Error
		if errors.As(err, &terr) && (terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden) {
			return nil, errdefs.Unauthorized(err)
		}
		return nil, errdefs.Unavailable(err)
	}
	out := []registry.SearchResult{}
	for _, repo := range repos {
		if !strings.Contains(repo, words) {
			continue
		}
		if len(out) == limit {
			break
		}
		out = append(out, registry.SearchResult{Name: host + "/" + repo})
	}
	return out, nil
}

// splitSearchTerm separates a registry host from the words, as Docker tells a host from a
// repository path: the first component holds a dot or a port, or is localhost.
func splitSearchTerm(term string) (host, words string) {
	first, rest, ok := strings.Cut(term, "/")
	if ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		if first == "docker.io" || first == "index.docker.io" {
			return "", rest
		}
		return first, strings.ToLower(rest)
	}
	return "", term
}

// searchHub asks Docker Hub's search API (unreachable from machines without internet access:
// the error says so).
func (r *Registry) searchHub(ctx context.Context, words string, limit int) ([]registry.SearchResult, error) {
	u := "https://index.docker.io/v1/search?q=" + url.QueryEscape(words) + "&n=" + strconv.Itoa(limit)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, errdefs.InvalidArgument(err)
	}
	t := r.Transport
	if t == nil {
		t = http.DefaultTransport
	}
	resp, err := (&http.Client{Transport: t}).Do(req)
	if err != nil {
		return nil, errdefs.Unavailable(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, errdefs.Unavailable(fmt.Errorf("unexpected status code %d from %s", resp.StatusCode, u))
	}
	var res registry.SearchResults
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return nil, errdefs.Unavailable(fmt.Errorf("search %s: %w", u, err))
	}
	if len(res.Results) > limit {
		res.Results = res.Results[:limit]
	}
	return res.Results, nil
}
