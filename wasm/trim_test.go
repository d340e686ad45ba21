//go:build unix

package wasm

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sgde-project/sgde/internal/fakego"
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

// fillCache writes n files of size bytes under dir, each a minute newer than the last, all
// older than an hour.
func fillCache(t *testing.T, dir, prefix string, n, size int) {
	t.Helper()
	base := time.Now().Add(-2 * time.Hour)
	for i := range n {
		p := filepath.Join(dir, prefix+string(rune('a'+i)))
		if err := os.WriteFile(p, make([]byte, size), 0o600); err != nil {
			t.Fatal(err)
		}
		at := base.Add(time.Duration(i) * time.Minute)
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
	}
}

// TestGoCacheBounded: the compiler's build cache is trimmed to its bound after a compilation,
// also when it is not sgde's own (SGDE_GOCACHE), its bound set by SGDE_GOCACHE_MAX_BYTES; at
// most once per trimEvery; and 0 leaves it alone (as the tests do with the go command's cache).
func TestGoCacheBounded(t *testing.T) {
	fakego.Install(t, 0)
	shared := t.TempDir()
	t.Setenv("SGDE_GOCACHE", shared)
	t.Setenv(EnvGoCacheMaxBytes, "2500")
	b := newTestBuilder(t, WithToolchain(ToolchainGo))
	if b.goCache != shared || b.goCacheMax != 2500 {
		t.Fatalf("builder uses %s bounded at %d, want %s at 2500", b.goCache, b.goCacheMax, shared)
	}
	fillCache(t, shared, "old-", 4, 1000)
	build := func(tag string) {
		t.Helper()
		if _, err := b.Build(context.Background(), []byte(strings.Replace(okNode, `"s"`, `"`+tag+`"`, 1)), "ok.go"); err != nil {
			t.Fatal(err)
		}
	}
	build("one")
	if got := dirSize(t, shared); got > 2500 {
		t.Fatalf("build cache holds %d bytes after a build, bound 2500", got)
	}
	if _, err := os.Stat(filepath.Join(shared, "old-d")); err != nil {
		t.Fatal("the most recently used entry was evicted")
	}
	// Within trimEvery of the last trim, a build does not walk the cache again.
	fillCache(t, shared, "more-", 3, 1000)
	build("two")
	if got := dirSize(t, shared); got <= 2500 {
		t.Fatalf("build cache trimmed again (%d bytes) within trimEvery", got)
	}
	b.trimEvery = 0
	build("three")
	if got := dirSize(t, shared); got > 2500 {
		t.Fatalf("build cache holds %d bytes after trimEvery, bound 2500", got)
	}

	t.Setenv(EnvGoCacheMaxBytes, "0")
	if b := newTestBuilder(t, WithToolchain(ToolchainGo)); b.goCacheMax != 0 {
		t.Errorf("%s=0 gives a bound of %d", EnvGoCacheMaxBytes, b.goCacheMax)
	}
	t.Setenv(EnvGoCacheMaxBytes, "4GiB")
	if _, err := NewBuilder(); err == nil || !strings.Contains(err.Error(), EnvGoCacheMaxBytes) {
		t.Errorf("a malformed %s: %v", EnvGoCacheMaxBytes, err)
	}
}

func dirSize(t *testing.T, dir string) int64 {
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
