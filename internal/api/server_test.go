package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/berthproject/berth/internal/errdefs"
	"github.com/moby/moby/api/types/system"
)

type fakeSystem struct {
	ImageBackend     // unused by these tests
	ContainerBackend // unused by these tests
	ExecBackend      // unused by these tests
	OpsBackend       // unused by these tests
	err              error
}

func (f fakeSystem) SystemInfo(context.Context) (*system.Info, error) {
	if f.err != nil {
		return nil, f.err
	}
	return &system.Info{ID: "fake"}, nil
}

func (f fakeSystem) SystemVersion(ctx context.Context) (*system.VersionResponse, error) {
	return &system.VersionResponse{Version: "v", APIVersion: APIVersion(ctx)}, nil
}

func serve(t *testing.T, b Backend, method, path string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	New(slog.New(slog.NewTextHandler(io.Discard, nil)), b).ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	resp := rec.Result()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func TestVersionedRouting(t *testing.T) {
	resp, body := serve(t, fakeSystem{}, "GET", "/v1.41/version")
	var v system.VersionResponse
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &v) != nil || v.APIVersion != "1.41" {
		t.Fatalf("GET /v1.41/version: %d %s", resp.StatusCode, body)
	}
	for _, path := range []string{"/v1/version", "/v1.x/version", "/v.1/version"} {
		resp, _ := serve(t, fakeSystem{}, "GET", path)
		if resp.StatusCode != 404 && resp.StatusCode != 400 {
			t.Errorf("GET %s: %d, want 400 or 404", path, resp.StatusCode)
		}
	}
	if resp, _ := serve(t, fakeSystem{}, "POST", "/version"); resp.StatusCode != 405 && resp.StatusCode != 404 {
		t.Errorf("POST /version: %d", resp.StatusCode)
	}
}

func TestErrorKindsBecomeStatuses(t *testing.T) {
	resp, body := serve(t, fakeSystem{err: errdefs.Unavailable(errors.New("busy"))}, "GET", "/info")
	if resp.StatusCode != 503 || body != "{\"message\":\"busy\"}\n" || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("got %d %q %v", resp.StatusCode, body, resp.Header)
	}
}

func TestVersionCompare(t *testing.T) {
	for _, c := range []struct {
		a, b string
		less bool
	}{{"1.9", "1.24", true}, {"1.24", "1.9", false}, {"1.50", "1.50", false}, {"1.5", "1.50", true}, {"2.0", "1.99", false}} {
		if got := versionLess(c.a, c.b); got != c.less {
			t.Errorf("versionLess(%s, %s) = %v", c.a, c.b, got)
		}
	}
	for v, ok := range map[string]bool{"1.24": true, "1.2.3": true, "1": false, "1.x": false, "": false, "1.2.3.4": false} {
		if validVersion(v) != ok {
			t.Errorf("validVersion(%q) != %v", v, ok)
		}
	}
}
