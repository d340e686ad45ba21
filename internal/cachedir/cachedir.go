// Package cachedir locates the one directory under which sgde keeps its caches (built
// artefacts, the Go build cache of code nodes, the engines' compiled machine code, serve's
// response caches). Every package that caches asks it, so that one variable moves them all.
package cachedir

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// Env is the variable that overrides the cache root.
const Env = "SGDE_CACHE_DIR"

// Root is the directory under which sgde keeps its caches: $SGDE_CACHE_DIR when set, else
// os.UserCacheDir()/sgde. It is not created.
func Root() (string, error) {
	if d := os.Getenv(Env); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("locate cache directory: %w", err)
	}
	return filepath.Join(d, "sgde"), nil
}

// Trim removes the least recently modified regular files under dir until what is left takes at
// most maxBytes (nothing when maxBytes <= 0). It is for caches whose every file is optional (a
// missing file is a miss): sgde's artefact cache, a Go build cache, an engine's compilation
// cache; eviction costs a rebuild at worst. Errors are ignored: a cache that cannot be trimmed
// costs disk, never correctness. It returns the bytes left.
func Trim(dir string, maxBytes int64) int64 {
	if dir == "" || maxBytes <= 0 {
		return 0
	}
	type file struct {
		path string
		size int64
		mod  time.Time
	}
	var files []file
	var total int64
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			files = append(files, file{p, fi.Size(), fi.ModTime()})
			total += fi.Size()
		}
		return nil
	})
	if total <= maxBytes {
		return total
	}
	sort.Slice(files, func(i, j int) bool { return files[i].mod.Before(files[j].mod) })
	for _, f := range files {
		if total <= maxBytes {
			break
		}
		if os.Remove(f.path) == nil {
			total -= f.size
		}
	}
	return total
}
