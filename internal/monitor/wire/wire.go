// Package wire is what berth-shim (internal/shim) and its clients (internal/monitor) share: the
// files of a shim's state directory and the frames of its attach and exec connections. It
// imports nothing heavy, so that the shim stays small.
package wire

import (
	"errors"
	"io"
	"strconv"
)

// Files in a shim's state directory (mode 0700).
const (
	SocketFile = "shim.sock"
	PidFile    = "shim.pid"
	InitPid    = "init.pid"
	ExitFile   = "exit.json"
)

// Streams of an attach or exec connection, from the shim, framed as Docker's stdcopy frames are
// (one byte stream, three zero bytes, a big-endian uint32 length, the payload), so output
// without a terminal passes to the API client unchanged. Control frames carry JSON.
const (
	FrameStdout  byte = 1
	FrameStderr  byte = 2
	FrameControl byte = 3
)

// WriteFrame writes one frame.
func WriteFrame(w io.Writer, stream byte, p []byte) error {
	n := uint32(len(p))
	hdr := [8]byte{stream, 0, 0, 0, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	_, err := w.Write(append(hdr[:], p...))
	return err
}

// ReadFrame reads one frame; buf is reused when large enough.
func ReadFrame(r io.Reader, buf []byte) (stream byte, payload []byte, err error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := uint32(hdr[4])<<24 | uint32(hdr[5])<<16 | uint32(hdr[6])<<8 | uint32(hdr[7])
	if n > 1<<24 {
		return 0, nil, errors.New("shim frame of " + strconv.FormatUint(uint64(n), 10) + " bytes")
	}
	if uint32(cap(buf)) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, nil, err
	}
	return hdr[0], buf, nil
}
