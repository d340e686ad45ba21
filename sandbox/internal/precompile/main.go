// Command precompile builds code nodes and compiles their modules into a wazero compilation
// cache. The sandbox tests run it (built without -race) before a -race run, because wazero's
// compiler is an order of magnitude slower under the race detector while the machine code it
// produces, and the cache key, are the same.
//
// Usage: go run ./sandbox/internal/precompile -cache DIR [-metered] FILE.go|FILE.wasm...
//
// With -metered the modules are also rewritten and compiled as the default (fuel-metered) engine of sandbox.New runs them.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/sandbox"
	"github.com/sgde-project/sgde/wasm"
)

func main() {
	cache := flag.String("cache", "", "wazero compilation cache directory")
	metered := flag.Bool("metered", false, "also compile the modules as the metered engine runs them")
	flag.Parse()
	if *cache == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: precompile -cache DIR FILE.go|FILE.wasm...")
		os.Exit(2)
	}
	ctx := context.Background()
	b, err := wasm.NewBuilder()
	if err != nil {
		fmt.Fprintln(os.Stderr, "precompile:", err)
		os.Exit(1)
	}
	e, err := sandbox.New(ctx, plans.EngineWazero, sandbox.WithMetering(sandbox.MeterWallClock), sandbox.WithCompilationCacheDir(*cache))
	if err != nil {
		fmt.Fprintln(os.Stderr, "precompile:", err)
		os.Exit(1)
	}
	defer e.Close(ctx)
	engines := []sandbox.Engine{e}
	if *metered {
		m, err := sandbox.New(ctx, plans.EngineWazero, sandbox.WithCompilationCacheDir(*cache))
		if err != nil {
			fmt.Fprintln(os.Stderr, "precompile:", err)
			os.Exit(1)
		}
		defer m.Close(ctx)
		engines = append(engines, m)
	}
	files := make(chan string)
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range files {
				// Failures are the tests' business: this only warms the cache.
				for _, e := range engines {
					if err := warm(ctx, b, e, f); err != nil {
						fmt.Fprintf(os.Stderr, "precompile: %s: %v\n", f, err)
					}
				}
			}
		}()
	}
	for _, f := range flag.Args() {
		files <- f
	}
	close(files)
	wg.Wait()
}

func warm(ctx context.Context, b *wasm.Builder, e sandbox.Engine, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if strings.HasSuffix(path, ".go") {
		art, err := b.Build(ctx, data, filepath.Base(path))
		if err != nil {
			return err
		}
		data = art.Wasm
	}
	m, err := e.Load(ctx, data)
	if err != nil {
		return err
	}
	return m.Close(ctx)
}
