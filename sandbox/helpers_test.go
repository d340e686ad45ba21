package sandbox_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/sgde-project/sgde/internal/testcache"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/sandbox"
	"github.com/sgde-project/sgde/wasm"
)

// The tests share one builder (its artefact cache and GOCACHE make rebuilds cheap) and one
// engine whose compilation cache lives under the OS temp dir (wazero compiles slowly under
// -race).
var (
	sharedOnce    sync.Once
	sharedBuilder *wasm.Builder
	sharedEngine  sandbox.Engine
	sharedErr     error

	modules moduleTable
)

// moduleTable memoises one build-and-load per key for the whole test binary.
type moduleTable struct {
	mu sync.Mutex
	m  map[string]*moduleOnce
}

// entry returns key's slot, creating it on first use; the caller fills it through its once.
func (tb *moduleTable) entry(key string) *moduleOnce {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if tb.m == nil {
		tb.m = map[string]*moduleOnce{}
	}
	m, ok := tb.m[key]
	if !ok {
		m = &moduleOnce{}
		tb.m[key] = m
	}
	return m
}

type moduleOnce struct {
	once sync.Once
	art  *wasm.Artifact
	mod  sandbox.Module
	err  error
}

func shared(t testing.TB) (*wasm.Builder, sandbox.Engine) {
	t.Helper()
	sharedOnce.Do(func() {
		sharedBuilder, sharedErr = wasm.NewBuilder()
		if sharedErr != nil {
			return
		}
		cacheDir := testcache.Dir("wazero")
		if raceEnabled {
			precompile(t, cacheDir)
		}
		sharedEngine, sharedErr = sandbox.New(context.Background(), plans.EngineWazero, sandbox.WithMetering(sandbox.MeterWallClock), sandbox.WithCompilationCacheDir(cacheDir))
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return sharedBuilder, sharedEngine
}

// precompile fills the compilation cache with every module the tests run, compiled by a
// process without the race detector (see sandbox/internal/precompile).
func precompile(t testing.TB, cacheDir string) {
	files := []string{arithProgram}
	for name, e := range hostileExpectations(t) {
		if e.Expect != "rejected" && e.Expect != "build_timeout" && e.Expect != "invalid_module" {
			files = append(files, filepath.Join(hostileDir, name))
		}
	}
	sort.Strings(files)
	start := time.Now()
	cmd := exec.Command("go", append([]string{"run", "github.com/sgde-project/sgde/sandbox/internal/precompile", "-cache", cacheDir}, files...)...)
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Logf("precompile (without -race) failed, modules compile under -race instead: %v\n%s", err, out)
		return
	}
	t.Logf("precompiled %d modules without -race in %v", len(files), time.Since(start).Round(time.Millisecond))
}

// load builds the source file at path (once per test binary) and loads it into the shared engine.
func load(t testing.TB, path string) (*wasm.Artifact, sandbox.Module) {
	t.Helper()
	b, e := shared(t)
	m := modules.entry(path)
	m.once.Do(func() {
		src, err := os.ReadFile(path)
		if err != nil {
			m.err = err
			return
		}
		m.art, m.err = b.Build(context.Background(), src, filepath.Base(path))
		if m.err != nil {
			return
		}
		m.mod, m.err = e.Load(context.Background(), m.art.Wasm)
	})
	if m.err != nil {
		t.Fatalf("build and load %s: %v", path, m.err)
	}
	return m.art, m.mod
}

// buildOnly builds the node at path with the shared builder (its artefact cache makes this
// cheap after the first time) and returns the module's bytes.
func buildOnly(t testing.TB, path string) []byte {
	t.Helper()
	b, _ := shared(t)
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	art, err := b.Build(context.Background(), src, filepath.Base(path))
	if err != nil {
		t.Fatalf("build %s: %v", path, err)
	}
	return art.Wasm
}

// hammer runs call(p, n) for n < N in each of P goroutines released together, with GOMAXPROCS at
// P/2, and reports every error; a goroutine stops at its first error.
func hammer(t *testing.T, P, N int, call func(p, n int) error) {
	t.Helper()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(P/2, 1)))
	var wg, ready sync.WaitGroup
	ready.Add(1)
	errs := make(chan error, P)
	for p := 0; p < P; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ready.Wait()
			for n := 0; n < N; n++ {
				if err := call(p, n); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	ready.Done()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
