// Package jsonfile writes container output in Docker's json-file format, one JSON object per
// line ({"log":"...\n","stream":"stdout","time":"..."}), rotating the file so that logs never
// fill a disk: at most MaxFiles files of MaxSize bytes.
package jsonfile

import (
	"bytes"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/berthproject/berth/internal/jsonlite"
)

// Defaults: rotation is on unless asked otherwise (Docker's json-file keeps everything).
const (
	DefaultMaxSize  = 20 << 20
	DefaultMaxFiles = 5
	// maxLine splits very long lines, as Docker does at 16 KiB.
	maxLine = 16 << 10
)

// Entry is one line of the log file.
type Entry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// Writer appends entries to a json-file log, rotating by size. It is safe for concurrent use.
type Writer struct {
	mu       sync.Mutex
	path     string
	f        *os.File
	size     int64
	maxSize  int64
	maxFiles int
	now      func() time.Time
	buf      []byte // the line being written, reused
}

// Open opens (appending) the log at path. maxSize <= 0 means no rotation.
func Open(path string, maxSize int64, maxFiles int) (*Writer, error) {
	if maxFiles < 1 {
		maxFiles = 1
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &Writer{path: path, f: f, size: fi.Size(), maxSize: maxSize, maxFiles: maxFiles, now: time.Now}, nil
}

// Stream returns an io.Writer for one stream ("stdout" or "stderr") that turns bytes into
// entries, one per line; a partial line waits for its end (or Flush).
func (w *Writer) Stream(name string) *StreamWriter { return &StreamWriter{w: w, name: name} }

// StreamWriter is one stream's line splitter.
type StreamWriter struct {
	w    *Writer
	name string
	buf  []byte
}

func (s *StreamWriter) Write(p []byte) (int, error) {
	s.buf = append(s.buf, p...)
	for {
		i := bytes.IndexByte(s.buf, '\n')
		if i < 0 {
			if len(s.buf) >= maxLine {
				if err := s.w.write(s.name, s.buf[:maxLine]); err != nil {
					return 0, err
				}
				s.buf = s.buf[maxLine:]
				continue
			}
			return len(p), nil
		}
		line := s.buf[:i+1]
		for len(line) > maxLine {
			if err := s.w.write(s.name, line[:maxLine]); err != nil {
				return 0, err
			}
			line = line[maxLine:]
		}
		if err := s.w.write(s.name, line); err != nil {
			return 0, err
		}
		s.buf = s.buf[i+1:]
	}
}

// Flush writes a pending partial line.
func (s *StreamWriter) Flush() error {
	if len(s.buf) == 0 {
		return nil
	}
	err := s.w.write(s.name, s.buf)
	s.buf = nil
	return err
}

func (w *Writer) write(stream string, line []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	// Written by hand rather than with encoding/json: berth-shim writes logs and stays small
	// without it (jsonlite); the bytes are the same as json.Marshal(Entry{...}).
	b := append(w.buf[:0], `{"log":`...)
	b = jsonlite.AppendString(b, string(line))
	b = append(b, `,"stream":`...)
	b = jsonlite.AppendString(b, stream)
	b = append(b, `,"time":`...)
	b = jsonlite.AppendTime(b, w.now().UTC())
	b = append(b, '}', '\n')
	w.buf = b
	if w.maxSize > 0 && w.size > 0 && w.size+int64(len(b)) > w.maxSize {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	n, err := w.f.Write(b)
	w.size += int64(n)
	return err
}

// rotate shifts path.1 -> path.2 ... and path -> path.1, dropping the oldest, then reopens.
func (w *Writer) rotate() error {
	if err := w.f.Close(); err != nil {
		return err
	}
	if w.maxFiles == 1 {
		f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_TRUNC|os.O_CREATE, 0o640)
		if err != nil {
			return err
		}
		w.f, w.size = f, 0
		return nil
	}
	os.Remove(w.path + "." + strconv.Itoa(w.maxFiles-1))
	for i := w.maxFiles - 2; i >= 1; i-- {
		os.Rename(w.path+"."+strconv.Itoa(i), w.path+"."+strconv.Itoa(i+1))
	}
	if err := os.Rename(w.path, w.path+".1"); err != nil {
		return err // a *LinkError: it names the paths
	}
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	w.f, w.size = f, 0
	return nil
}

// Close flushes nothing (streams own their partial lines) and closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.f.Close()
}
