package sandbox_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/sandbox"
)

// dirBytes is the size of the regular files under dir.
func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	_ = filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// TestEngineCompilationCacheBounded: an engine's compilation cache on disk is trimmed to its bound
// after a load that compiled, oldest entries first, and keeps what the load just wrote.
func TestEngineCompilationCacheBounded(t *testing.T) {
	for _, name := range []plans.EngineName{plans.EngineWazero, plans.EngineWasmtime} {
		t.Run(string(name), func(t *testing.T) {
			if err := sandbox.Available(name); err != nil {
				t.Skip(err)
			}
			dir := t.TempDir()
			// Stale entries of modules compiled long ago, 3 MiB in all.
			old := time.Now().Add(-48 * time.Hour)
			for i, n := range []string{"stale-a", "sub/stale-b", "stale-c"} {
				p := filepath.Join(dir, n)
				if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, make([]byte, 1<<20), 0o600); err != nil {
					t.Fatal(err)
				}
				at := old.Add(time.Duration(i) * time.Minute)
				if err := os.Chtimes(p, at, at); err != nil {
					t.Fatal(err)
				}
			}
			const bound = 1<<20 + 512<<10
			e, err := sandbox.New(context.Background(), name, sandbox.WithCompilationCacheDir(dir), sandbox.WithCompilationCacheMaxBytes(bound))
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close(context.Background())
			m, err := e.Load(context.Background(), startOnly(1))
			if err != nil {
				t.Fatal(err)
			}
			m.Close(context.Background())
			if got := dirBytes(t, dir); got > bound {
				t.Fatalf("compilation cache holds %d bytes after a load, bound %d", got, bound)
			}
			for _, n := range []string{"stale-a", "sub/stale-b"} {
				if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
					t.Errorf("%s kept: the oldest entries must go first", n)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "stale-c")); err != nil {
				t.Errorf("newest stale entry removed though the cache fits with it: %v", err)
			}
			if dirBytes(t, dir) <= 1<<20 {
				t.Error("the entry the load just wrote is gone")
			}
		})
	}
}
