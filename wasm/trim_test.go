package wasm

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestTrimDir: a cache over its bound loses its least recently used files first, down to the
// bound; one within it loses nothing.
func TestTrimDir(t *testing.T) {
	dir := t.TempDir()
	base := time.Now().Add(-time.Hour)
	for i, name := range []string{"a/old", "b/mid", "a/new"} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, make([]byte, 1000), 0o600); err != nil {
			t.Fatal(err)
		}
		at := base.Add(time.Duration(i) * time.Minute)
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
	}
	touch(filepath.Join(dir, "a/old")) // used just now: it must survive
	trimDir(dir, 3000)
	for _, name := range []string{"a/old", "b/mid", "a/new"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Fatalf("%s removed from a cache within its bound", name)
		}
	}
	trimDir(dir, 2000)
	exists := func(name string) bool { _, err := os.Stat(filepath.Join(dir, name)); return err == nil }
	if exists("b/mid") || !exists("a/old") || !exists("a/new") {
		t.Fatalf("after trimming to 2000 bytes: old %v, mid %v, new %v; want the least recently used (mid) gone", exists("a/old"), exists("b/mid"), exists("a/new"))
	}
}
