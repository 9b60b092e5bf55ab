package archive

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"

	"github.com/berthproject/berth/internal/errdefs"
)

// Decompress recognizes a gzip or bzip2 stream by its magic number and reads through it; xz and
// zstd are refused with a clear error; anything else is taken as an uncompressed tar.
func Decompress(r io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, _ := br.Peek(6)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, errdefs.InvalidArgument(fmt.Errorf("gzip: %w", err))
		}
		return zr, nil
	case bytes.HasPrefix(magic, []byte("BZh")):
		return bzip2.NewReader(br), nil
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return nil, errdefs.InvalidArgument(errors.New("xz-compressed archives are not supported: decompress it first"))
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return nil, errdefs.InvalidArgument(errors.New("zstd-compressed archives are not supported: decompress it first"))
	}
	return br, nil
}
