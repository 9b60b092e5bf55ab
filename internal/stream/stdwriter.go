// Package stream writes the Docker Engine API's multiplexed stream: each chunk preceded by an
// 8-byte header (stream id, three zero bytes, big-endian length), as clients' stdcopy expects.
package stream

import (
	"encoding/binary"
	"io"
)

// Stream ids of the multiplexed format.
const (
	Stdin  byte = 0
	Stdout byte = 1
	Stderr byte = 2
)

type stdWriter struct {
	w  io.Writer
	id byte
}

// NewStdWriter frames everything written to it as stream id on w.
func NewStdWriter(w io.Writer, id byte) io.Writer { return &stdWriter{w: w, id: id} }

func (s *stdWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	frame := make([]byte, 8+len(p))
	frame[0] = s.id
	binary.BigEndian.PutUint32(frame[4:8], uint32(len(p)))
	copy(frame[8:], p)
	if _, err := s.w.Write(frame); err != nil {
		return 0, err
	}
	return len(p), nil
}
