// Package atomicfile replaces files so that readers see the old or the new content, never a mix:
// write a temp file beside the target, optionally fsync it, rename it over the target.
package atomicfile

import (
	"os"
	"path/filepath"
)

// WriteFile atomically replaces path with data, synced to disk before the rename.
func WriteFile(path string, data []byte, mode os.FileMode) error {
	return write(path, data, mode, true)
}

// WriteFileNoSync is WriteFile without the fsync: for state that cannot outlive the machine
// (under /run), where the sync would only cost time.
func WriteFileNoSync(path string, data []byte, mode os.FileMode) error {
	return write(path, data, mode, false)
}

func write(path string, data []byte, mode os.FileMode, sync bool) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err = tmp.Write(data); err == nil && sync {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), mode)
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
