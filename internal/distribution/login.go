package distribution

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/berthproject/berth/internal/errdefs"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Login checks credentials against a registry ("" or Docker Hub's v1 address for Docker Hub):
// the token exchange, then an authenticated GET /v2/. It returns no identity token: the
// credentials themselves are what the client stores.
func (r *Registry) Login(ctx context.Context, server string, auth authn.Authenticator) (string, error) {
	host := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(server, "https://"), "http://"), "/")
	host = strings.TrimSuffix(host, "/v1")
	host = strings.TrimSuffix(host, "/v2")
	if host == "" || host == "index.docker.io" || host == "docker.io" {
		host = name.DefaultRegistry
	}
	var opts []name.Option
	if r.Insecure(host) {
		opts = append(opts, name.Insecure)
	}
	reg, err := name.NewRegistry(host, opts...)
	if err != nil {
		return "", errdefs.InvalidArgument(err)
	}
	base := r.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	url := fmt.Sprintf("%s://%s/v2/", reg.Scheme(), reg.RegistryStr())
	t, err := transport.NewWithContext(ctx, reg, auth, base, []string{reg.Scope("")})
	if err != nil {
		return "", errdefs.Unauthorized(fmt.Errorf("login attempt to %s failed: %w", url, err))
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := (&http.Client{Transport: t}).Do(req)
	if err != nil {
		return "", errdefs.Unavailable(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", errdefs.Unauthorized(fmt.Errorf("login attempt to %s failed with status: %d %s", url, resp.StatusCode, http.StatusText(resp.StatusCode)))
	}
	return "", nil
}
