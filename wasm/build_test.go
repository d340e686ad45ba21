package wasm

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func newTestBuilder(t *testing.T, opts ...BuilderOption) *Builder {
	t.Helper()
	b, err := NewBuilder(append([]BuilderOption{WithCacheDir(t.TempDir())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBuildCache(t *testing.T) {
	ctx := context.Background()
	b := newTestBuilder(t)
	first, err := b.Build(ctx, []byte(okNode), "ok.go")
	if err != nil {
		t.Fatal(err)
	}
	if first.CacheHit || !bytes.HasPrefix(first.Wasm, []byte("\x00asm")) || first.Digest != digest(first.Wasm) ||
		!strings.HasPrefix(first.SourceDigest, "sha256:") || first.SDKDigest != SDKDigest() || !strings.Contains(first.Toolchain, "go") {
		t.Fatalf("first build: %+v", *first)
	}
	second, err := b.Build(ctx, []byte(okNode), "other-name.go")
	if err != nil {
		t.Fatal(err)
	}
	if !second.CacheHit || second.Digest != first.Digest {
		t.Fatalf("second build: hit %v digest %s, want a hit with %s", second.CacheHit, second.Digest, first.Digest)
	}

	// A corrupt entry is detected and rebuilt, never returned.
	entries, _ := filepath.Glob(filepath.Join(b.cacheDir, "*", "*.wasm"))
	if len(entries) != 1 {
		t.Fatalf("cache holds %v, want one entry", entries)
	}
	data, _ := os.ReadFile(entries[0])
	data[len(data)-10] ^= 0xff
	if err := os.WriteFile(entries[0], data, 0o600); err != nil {
		t.Fatal(err)
	}
	third, err := b.Build(ctx, []byte(okNode), "ok.go")
	if err != nil {
		t.Fatal(err)
	}
	if third.CacheHit || third.Digest != first.Digest {
		t.Fatalf("after corruption: hit %v digest %s, want a rebuild with %s", third.CacheHit, third.Digest, first.Digest)
	}

	// A different source is a different key.
	other, err := b.Build(ctx, []byte(strings.Replace(okNode, `"s"`, `"t"`, 1)), "ok.go")
	if err != nil {
		t.Fatal(err)
	}
	if other.CacheHit || other.Digest == first.Digest || other.SourceDigest == first.SourceDigest {
		t.Fatalf("changed source: %+v", *other)
	}
}

func TestBuildConcurrentSameSource(t *testing.T) {
	b := newTestBuilder(t)
	src := []byte(strings.Replace(okNode, `"s"`, `"concurrent"`, 1))
	const P = 6
	var wg, ready sync.WaitGroup
	ready.Add(1)
	arts := make([]*Artifact, P)
	errs := make([]error, P)
	for i := 0; i < P; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ready.Wait()
			arts[i], errs[i] = b.Build(context.Background(), src, "c.go")
		}()
	}
	ready.Done()
	wg.Wait()
	misses := 0
	for i := range arts {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if arts[i].Digest != arts[0].Digest {
			t.Fatalf("digests differ: %s vs %s", arts[i].Digest, arts[0].Digest)
		}
		if !arts[i].CacheHit {
			misses++
		}
	}
	if misses != 1 {
		t.Fatalf("%d of %d concurrent builds compiled, want exactly 1", misses, P)
	}
}

func TestBuildErrors(t *testing.T) {
	ctx := context.Background()
	b := newTestBuilder(t)

	start := time.Now()
	_, err := b.Build(ctx, []byte("package main\n\nimport \"os\"\n\nfunc main() { os.Exit(1) }\n"), "bad.go")
	if !errors.Is(err, ErrRejected) || errors.Is(err, ErrBuildFailed) {
		t.Fatalf("disallowed import: %v, want ErrRejected", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("rejection took %v: validation must come before any compiler", time.Since(start))
	}

	typeErr := strings.Replace(okNode, "r.String()", "r.NoSuchMethod()", 1)
	_, err = b.Build(ctx, []byte(typeErr), "typo.go")
	if !errors.Is(err, ErrBuildFailed) || errors.Is(err, ErrBuildTimeout) {
		t.Fatalf("type error: %v, want ErrBuildFailed", err)
	}
	if !strings.Contains(err.Error(), "typo.go:") || strings.Contains(err.Error(), os.TempDir()) {
		t.Errorf("message %q should point at typo.go and hide the build directory", err)
	}

	fast := newTestBuilder(t, WithTimeout(time.Millisecond))
	_, err = fast.Build(ctx, []byte(strings.Replace(okNode, `"s"`, `"timeout"`, 1)), "slow.go")
	if !errors.Is(err, ErrBuildTimeout) || !errors.Is(err, ErrBuildFailed) {
		t.Fatalf("timeout: %v, want ErrBuildTimeout wrapping ErrBuildFailed", err)
	}
}

func TestCacheEntries(t *testing.T) {
	dir := t.TempDir()
	key := cacheKey("sha256:a", "sha256:b", "go1", "go", []string{"-x"})
	if key == cacheKey("sha256:a", "sha256:b", "go2", "go", []string{"-x"}) ||
		key == cacheKey("sha256:a", "sha256:b", "go1", "go", []string{"-y"}) {
		t.Fatal("toolchain and flags must change the key")
	}
	wasm := []byte("\x00asm\x01\x00\x00\x00")
	if err := writeCache(dir, key, wasm); err != nil {
		t.Fatal(err)
	}
	got, sum, ok := readCache(dir, key)
	if !ok || !bytes.Equal(got, wasm) || sum != digest(wasm) {
		t.Fatalf("read back %q %q %v", got, sum, ok)
	}
	for name, bad := range map[string]string{
		"no header":    "\x00asm",
		"bad magic":    "sgde-artifact 9 sha256:x 8\n\x00asm\x01\x00\x00\x00",
		"wrong length": cacheMagic + digest(wasm) + " 9\n" + string(wasm),
		"wrong digest": cacheMagic + digest([]byte("x")) + " 8\n" + string(wasm),
		"truncated":    cacheMagic + digest(wasm) + " 8\n\x00asm",
	} {
		if err := os.WriteFile(cachePath(dir, key), []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, ok := readCache(dir, key); ok {
			t.Errorf("%s: corrupt entry accepted", name)
		}
		if _, err := os.Stat(cachePath(dir, key)); !os.IsNotExist(err) {
			t.Errorf("%s: corrupt entry not removed", name)
		}
	}
}

// TestBuildLeavesNothingInTMPDIR: a build (and the toolchain version probe before it) removes
// every file it made under $TMPDIR, including those a go command's detached helpers (telemetry)
// might write after it returns.
func TestBuildLeavesNothingInTMPDIR(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	b := newTestBuilder(t)
	if _, err := b.Build(context.Background(), []byte(okNode), "ok.go"); err != nil {
		t.Fatal(err)
	}
	// A detached child of the go command would write within moments of its parent's exit.
	for i := 0; i < 4; i++ {
		if i > 0 {
			time.Sleep(250 * time.Millisecond)
		}
		if left, _ := os.ReadDir(tmp); len(left) > 0 {
			var names []string
			for _, e := range left {
				names = append(names, e.Name())
			}
			t.Fatalf("build left %v in $TMPDIR", names)
		}
	}
}
