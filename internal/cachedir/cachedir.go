// Package cachedir locates the one directory under which sgde keeps its caches (built
// artefacts, the Go build cache of code nodes, the engines' compiled machine code, serve's
// response caches). Every package that caches asks it, so that one variable moves them all.
package cachedir

import (
	"fmt"
	"os"
	"path/filepath"
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
