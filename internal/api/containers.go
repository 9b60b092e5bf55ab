package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"net/http"
	"strconv"

	"github.com/berthproject/berth/internal/container"
	"github.com/berthproject/berth/internal/daemon/logopts"
	"github.com/berthproject/berth/internal/errdefs"
	"github.com/berthproject/berth/internal/filters"
	"github.com/berthproject/berth/internal/stream"
	"github.com/berthproject/berth/internal/timestamp"
	ctypes "github.com/moby/moby/api/types/container"
)

// ContainerBackend answers the container routes.
type ContainerBackend interface {
	ContainerCreate(ctx context.Context, name string, cfg *ctypes.Config, host *ctypes.HostConfig) (string, error)
	ContainerStart(ctx context.Context, ref string) error
	ContainerWait(ctx context.Context, ref, condition string) (*ctypes.WaitResponse, error)
	ContainerKill(ctx context.Context, ref, signal string) error
	ContainerStop(ctx context.Context, ref, signal string, timeout *int) error
	ContainerRemove(ctx context.Context, ref string, force bool) error
	ContainerRemoveWithVolumes(ctx context.Context, ref string, force bool) error
	ContainerList(ctx context.Context, o container.ListOptions) (iter.Seq[ctypes.Summary], error)
	ContainerInspect(ctx context.Context, ref string) (*ctypes.InspectResponse, error)
	ContainerLogs(ctx context.Context, ref string, o logopts.Options, w io.Writer) (tty bool, err error)
	ContainerAttach(ctx context.Context, ref string, o stream.AttachOptions, upgrade stream.Upgrade) error
	ContainerResize(ctx context.Context, ref string, height, width uint16) error
	ContainerPrune(ctx context.Context, f filters.Args) (*ctypes.PruneReport, error)
}

func boolParam(r *http.Request, name string) bool {
	v := r.URL.Query().Get(name)
	return v == "1" || v == "true" || v == "True"
}

func (s *Server) containerRoutes(b ContainerBackend) {
	s.handle("POST /containers/create", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		var req ctypes.CreateRequest
		var body bytes.Buffer
		if err := json.NewDecoder(io.TeeReader(r.Body, &body)).Decode(&req); err != nil {
			if errors.Is(err, io.EOF) {
				return errdefs.InvalidArgument(errors.New("invalid JSON: got EOF while reading request body"))
			}
			return errdefs.InvalidArgument(fmt.Errorf("invalid JSON: %w", err))
		}
		legacyMACAddress(body.Bytes(), &req)
		if req.Config != nil && req.Config.Healthcheck != nil && versionLess(APIVersion(ctx), "1.44") {
			req.Config.Healthcheck.StartInterval = 0 // as dockerd: the field came with API 1.44
		}
		var saveNetworks func(string) error
		if nc, ok := b.(networkConfigurer); ok {
			var err error
			if saveNetworks, err = nc.NetworkSetContainerConfig(ctx, req.HostConfig, req.NetworkingConfig); err != nil {
				return err
			}
		}
		id, err := b.ContainerCreate(ctx, r.URL.Query().Get("name"), req.Config, req.HostConfig)
		if err != nil {
			return err
		}
		if saveNetworks != nil {
			if err := saveNetworks(id); err != nil {
				return err
			}
		}
		return writeJSON(w, http.StatusCreated, ctypes.CreateResponse{ID: id, Warnings: []string{}})
	})
	s.handle("GET /containers/json", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		o := container.ListOptions{All: boolParam(r, "all"), Size: boolParam(r, "size")}
		if l := r.URL.Query().Get("limit"); l != "" {
			n, err := strconv.Atoi(l)
			if err != nil {
				return errdefs.InvalidArgument(fmt.Errorf("invalid value for limit: %s", l))
			}
			o.Limit = n
		}
		f, err := filters.Parse(r.URL.Query().Get("filters"))
		if err != nil {
			return err
		}
		o.Filters = f
		list, err := b.ContainerList(ctx, o)
		if err != nil {
			return err
		}
		return writeJSONSeq(w, http.StatusOK, list)
	})
	s.handle("GET /containers/{id}/json", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		c, err := b.ContainerInspect(ctx, r.PathValue("id"))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, withLegacyNetwork(c, APIVersion(ctx)))
	})
	s.handle("POST /containers/{id}/start", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		if err := b.ContainerStart(ctx, r.PathValue("id")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
	s.handle("POST /containers/{id}/kill", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		if err := b.ContainerKill(ctx, r.PathValue("id"), r.URL.Query().Get("signal")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
	s.handle("POST /containers/{id}/stop", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		timeout, err := stopTimeout(r)
		if err != nil {
			return err
		}
		if err := b.ContainerStop(ctx, r.PathValue("id"), r.URL.Query().Get("signal"), timeout); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
	s.handle("POST /containers/{id}/attach", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		o := stream.AttachOptions{Stdin: boolParam(r, "stdin"), Stdout: boolParam(r, "stdout"), Stderr: boolParam(r, "stderr"),
			Logs: boolParam(r, "logs"), Stream: boolParam(r, "stream"), DetachKeys: r.URL.Query().Get("detachKeys")}
		return b.ContainerAttach(ctx, r.PathValue("id"), o, upgrader(w, r))
	})
	s.handle("POST /containers/prune", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		f, err := filters.Parse(r.URL.Query().Get("filters"))
		if err != nil {
			return err
		}
		report, err := b.ContainerPrune(ctx, f)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, report)
	})
	s.handle("POST /containers/{id}/resize", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		h, wd, err := terminalSize(r)
		if err != nil {
			return err
		}
		if err := b.ContainerResize(ctx, r.PathValue("id"), h, wd); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	})
	s.handle("POST /containers/{id}/wait", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		// Headers go out at once, so the client knows the wait has begun; the body when it ends.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		res, err := b.ContainerWait(ctx, r.PathValue("id"), r.URL.Query().Get("condition"))
		if err != nil {
			res = &ctypes.WaitResponse{StatusCode: -1, Error: &ctypes.WaitExitError{Message: err.Error()}}
		}
		return json.NewEncoder(w).Encode(res)
	})
	s.handle("GET /containers/{id}/logs", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		q := r.URL.Query()
		o := logopts.Options{Stdout: boolParam(r, "stdout"), Stderr: boolParam(r, "stderr"), Follow: boolParam(r, "follow"),
			Timestamps: boolParam(r, "timestamps"), Tail: q.Get("tail")}
		if !o.Stdout && !o.Stderr {
			return errdefs.InvalidArgument(errors.New("Bad parameters: you must choose at least one stream"))
		}
		var err error
		if o.Since, err = timestamp.ParseUnix(q.Get("since")); err != nil {
			return errdefs.InvalidArgument(err)
		}
		if o.Until, err = timestamp.ParseUnix(q.Get("until")); err != nil {
			return errdefs.InvalidArgument(err)
		}
		c, err := b.ContainerInspect(ctx, r.PathValue("id"))
		if err != nil {
			return err
		}
		if c.HostConfig != nil {
			if err := logopts.Readable(c.HostConfig.LogConfig.Type); err != nil {
				return err // before the stream's header
			}
		}
		if c.Config != nil && c.Config.Tty {
			w.Header().Set("Content-Type", "application/vnd.docker.raw-stream")
		} else {
			w.Header().Set("Content-Type", "application/vnd.docker.multiplexed-stream")
		}
		w.WriteHeader(http.StatusOK)
		_, err = b.ContainerLogs(ctx, c.ID, o, flushWriter{w})
		return err
	})
	s.handle("DELETE /containers/{id}", func(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
		remove := b.ContainerRemove
		if boolParam(r, "v") {
			remove = b.ContainerRemoveWithVolumes
		}
		if err := remove(ctx, r.PathValue("id"), boolParam(r, "force")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

// flushWriter sends each write to the client at once (logs --follow).
type flushWriter struct{ w http.ResponseWriter }

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
	return n, err
}

// upgrader hijacks the connection for a raw stream (attach, exec start): 101 when the client
// asked to upgrade (the docker CLI does), 200 otherwise.
func upgrader(w http.ResponseWriter, r *http.Request) stream.Upgrade {
	return func(tty bool) (net.Conn, error) {
		hj, ok := w.(http.Hijacker)
		if !ok {
			return nil, errors.New("connection cannot be hijacked")
		}
		conn, buf, err := hj.Hijack()
		if err != nil {
			return nil, err
		}
		mediaType := "application/vnd.docker.multiplexed-stream"
		if tty {
			mediaType = "application/vnd.docker.raw-stream"
		}
		if r.Header.Get("Upgrade") != "" {
			fmt.Fprintf(buf, "HTTP/1.1 101 UPGRADED\r\nContent-Type: %s\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n", mediaType)
		} else {
			fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\n\r\n", mediaType)
		}
		if err := buf.Flush(); err != nil {
			conn.Close()
			return nil, err
		}
		if n := buf.Reader.Buffered(); n > 0 { // input the client sent with its request
			pre, _ := buf.Reader.Peek(n)
			return &prefixedConn{Conn: conn, pre: append([]byte{}, pre...)}, nil
		}
		return conn, nil
	}
}

// prefixedConn replays bytes read ahead by the HTTP server before the connection's own.
type prefixedConn struct {
	net.Conn
	pre []byte
}

func (c *prefixedConn) Read(p []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(p, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// CloseWrite lets the stream half-close as a plain connection would.
func (c *prefixedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// terminalSize reads the h and w parameters of a resize.
func terminalSize(r *http.Request) (uint16, uint16, error) {
	q := r.URL.Query()
	h, err1 := strconv.ParseUint(q.Get("h"), 10, 16)
	w, err2 := strconv.ParseUint(q.Get("w"), 10, 16)
	if err1 != nil || err2 != nil {
		return 0, 0, errdefs.InvalidArgument(errors.New("invalid resize parameters: h and w must be integers"))
	}
	return uint16(h), uint16(w), nil
}

// stopTimeout reads the t parameter of stop and restart (nil: the container's own timeout).
func stopTimeout(r *http.Request) (*int, error) {
	t := r.URL.Query().Get("t")
	if t == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(t)
	if err != nil {
		return nil, errdefs.InvalidArgument(fmt.Errorf("invalid value for t: %s", t))
	}
	return &n, nil
}
