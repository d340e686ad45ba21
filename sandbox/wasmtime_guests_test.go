//go:build wasmtime && cgo

package sandbox

import (
	"context"
	"sync"
	"testing"

	"github.com/sgde-project/sgde/wasm"
)

// Guests for the wasmtime tests come from the production builder (package wasm), so the engines
// are compared on exactly the modules sgde runs. Its artefact cache makes rebuilds cheap.

var (
	builderOnce sync.Once
	builder     *wasm.Builder
	builderErr  error

	guestMu    sync.Mutex
	guestBuilt = map[string][]byte{}
)

// buildGuest validates and compiles one code-node source file and returns its module.
func buildGuest(tb testing.TB, src string) []byte {
	tb.Helper()
	builderOnce.Do(func() { builder, builderErr = wasm.NewBuilder() })
	if builderErr != nil {
		tb.Fatal(builderErr)
	}
	guestMu.Lock()
	defer guestMu.Unlock()
	if b, ok := guestBuilt[src]; ok {
		return b
	}
	art, err := builder.Build(context.Background(), []byte(src), "node.go")
	if err != nil {
		tb.Fatalf("build guest: %v", err)
	}
	guestBuilt[src] = art.Wasm
	return art.Wasm
}
