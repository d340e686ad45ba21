// Package atomicfile writes files so that readers, and a crash, see either the old content or
// the new, never a torn file: the data goes to a temporary file in the same directory, which is
// synced and renamed over the target. It is the one implementation the caches, the compiler's
// checkpoint, `sgde build -o` and the generators use.
package atomicfile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Write writes data to path with permissions perm. See WriteFunc.
func Write(path string, data []byte, perm os.FileMode) error {
	return WriteFunc(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteFunc writes what write produces to path with permissions perm (not subject to the
// umask), through a synced temporary file renamed into place; the directory is synced too, so
// that the rename survives a crash. The directory must exist. On any error path is unchanged
// and the temporary file is removed. Concurrent writers of the same path each replace it whole.
func WriteFunc(path string, perm os.FileMode, write func(io.Writer) error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	err = write(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, perm)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // best effort: not every file system syncs directories
		d.Close()
	}
	return nil
}
