// Package api serves the Docker Engine API over HTTP: routing of versioned and unversioned
// paths, API version checks, Docker's error bodies and status codes. Each group of routes
// declares the small backend interface it needs; the daemon implements them.
package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net/http"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/berthproject/berth/internal/errdefs"
	"github.com/berthproject/berth/internal/version"
)

// handler is a route's function: it returns an error instead of writing one, so errors are
// rendered in one place (writeError) with the status their kind maps to.
type handler func(ctx context.Context, w http.ResponseWriter, r *http.Request) error

// Server routes Docker Engine API requests.
type Server struct {
	mux *http.ServeMux
	log *slog.Logger
}

// Backend is everything the routes need from the daemon.
type Backend interface {
	SystemBackend
	ImageBackend
	ContainerBackend
	ExecBackend
	OpsBackend
}

// New builds the server with every route of the backend.
func New(log *slog.Logger, b Backend) *Server {
	s := &Server{mux: http.NewServeMux(), log: log}
	s.systemRoutes(b)
	s.imageRoutes(b)
	s.containerRoutes(b)
	s.execRoutes(b)
	s.opsRoutes(b)
	s.networkRoutes(b)
	s.fileRoutes(b) // volumes, archive, changes, export, commit (volumes.go, archive.go)
	s.distRoutes(b)
	s.buildRoutes(b)     // build.go
	s.diskUsageRoutes(b) // system df, build cache prune
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errdefs.NotFound(errors.New("page not found")))
	})
	return s
}

func (s *Server) handle(pattern string, h handler) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		began := time.Now()
		defer func() { s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "took", time.Since(began)) }()
		if err := h(r.Context(), w, r); err != nil {
			if errdefs.HTTPStatus(err) >= 500 {
				s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			}
			writeError(w, err)
		}
	})
}

var versionPrefix = regexp.MustCompile(`^/v([0-9.]+)(/.*)$`)

type ctxKey int

const apiVersionKey ctxKey = 0

// APIVersion is the API version of a request (the served maximum when the path has none).
func APIVersion(ctx context.Context) string {
	if v, ok := ctx.Value(apiVersionKey).(string); ok {
		return v
	}
	return version.APIVersion
}

// ServeHTTP strips an API version prefix (/v1.50/...), checks it against the served range as
// dockerd does, sets the headers dockerd sets on every response, and routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Server", fmt.Sprintf("berth/%s (%s)", version.Version, runtime.GOOS))
	h.Set("Api-Version", version.APIVersion)
	h.Set("Ostype", runtime.GOOS)
	h.Set("Docker-Experimental", "false")
	apiVersion := version.APIVersion
	if m := versionPrefix.FindStringSubmatch(r.URL.Path); m != nil {
		apiVersion = m[1]
		r2 := r.Clone(r.Context())
		r2.URL.Path = m[2]
		r2.URL.RawPath = ""
		r = r2
	}
	switch {
	case !validVersion(apiVersion):
		writeError(w, errdefs.InvalidArgument(fmt.Errorf("invalid API version %q", apiVersion)))
		return
	case versionLess(apiVersion, version.MinAPIVersion):
		writeError(w, errdefs.InvalidArgument(fmt.Errorf("client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version", apiVersion, version.MinAPIVersion)))
		return
	case versionLess(version.APIVersion, apiVersion):
		writeError(w, errdefs.InvalidArgument(fmt.Errorf("client version %s is too new. Maximum supported API version is %s", apiVersion, version.APIVersion)))
		return
	}
	s.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), apiVersionKey, apiVersion)))
}

func validVersion(v string) bool {
	parts := strings.Split(v, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return false
	}
	for _, p := range parts {
		if _, err := strconv.Atoi(p); err != nil {
			return false
		}
	}
	return true
}

// versionLess compares dotted API versions numerically ("1.9" < "1.24").
func versionLess(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) || i < len(pb); i++ {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			return x < y
		}
	}
	return false
}

// errorResponse is the body of every error, as dockerd writes it.
type errorResponse struct {
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, err error) {
	status := errdefs.HTTPStatus(err)
	if status == http.StatusNotModified {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, errorResponse{Message: err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// writeJSONSeq writes the items as writeJSON writes a slice of them (the same bytes), sending
// them as they are made: the client reads the start of a long list (ps -a with a thousand
// containers) while the rest is made, and the list is never held whole. The items are made in a
// goroutine of their own, a batch ahead of their encoding.
func writeJSONSeq[T any](w http.ResponseWriter, status int, items iter.Seq[T]) error {
	const batchLen = 64
	batches := make(chan []T, 1)
	stop := make(chan struct{})
	var panicked any // what making the items panicked with: panics again in the handler
	defer func() {
		close(stop)
		for range batches { // until the goroutine is done with the items
		}
	}()
	go func() {
		defer close(batches)
		defer func() { panicked = recover() }()
		batch := make([]T, 0, batchLen)
		for v := range items {
			if batch = append(batch, v); len(batch) == batchLen {
				select {
				case batches <- batch:
				case <-stop:
					return
				}
				batch = make([]T, 0, batchLen)
			}
		}
		select {
		case batches <- batch:
		case <-stop:
		}
	}()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	bw := bufio.NewWriterSize(w, 32<<10)
	var item bytes.Buffer
	enc := json.NewEncoder(&item)
	sep := byte('[')
	for batch := range batches {
		for i := range batch {
			item.Reset()
			if err := enc.Encode(&batch[i]); err != nil {
				return err
			}
			bw.WriteByte(sep)
			sep = ','
			if _, err := bw.Write(bytes.TrimSuffix(item.Bytes(), []byte("\n"))); err != nil { // Encode ends each value with a newline
				return err // the client is gone
			}
		}
	}
	if panicked != nil {
		panic(panicked) // where net/http recovers it, as from any handler, and drops the connection
	}
	if sep == '[' {
		bw.WriteByte(sep)
	}
	bw.WriteString("]\n")
	return bw.Flush()
}
