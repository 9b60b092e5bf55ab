package archive

import (
	"archive/tar"
	"io"
	"os"
)

// WriteEntry writes hdr to tw and, for a regular file, the content of the file at path.
func WriteEntry(tw *tar.Writer, hdr *tar.Header, path string) error {
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if hdr.Typeflag != tar.TypeReg {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(tw, f)
	return err
}
