package wasm

import (
	"bytes"
	"context"
	"testing"

	"github.com/sgde-project/sgde/internal/wasmbin"
	"github.com/sgde-project/sgde/wasm/abi"
)

// TestBuildReactor: WithReactor builds the same node source as a reactor (exports _initialize
// and abi.ReactorEntry, no _start), cached apart from the command build.
func TestBuildReactor(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles a node")
	}
	ctx := context.Background()
	cmd, err := NewBuilder(WithCacheDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rea, err := NewBuilder(WithCacheDir(dir), WithReactor())
	if err != nil {
		t.Fatal(err)
	}
	a, err := cmd.Build(ctx, []byte(okNode), "n.go")
	if err != nil {
		t.Fatal(err)
	}
	r, err := rea.Build(ctx, []byte(okNode), "n.go")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.Wasm, r.Wasm) {
		t.Fatal("reactor and command builds are identical")
	}
	m, err := wasmbin.Decode(r.Wasm)
	if err != nil {
		t.Fatal(err)
	}
	exports := map[string]bool{}
	for _, e := range m.Exports {
		exports[e.Name] = e.Kind == wasmbin.KindFunc
	}
	if !exports["_initialize"] || !exports[abi.ReactorEntry] || exports["_start"] {
		t.Fatalf("reactor exports %v: want _initialize and %s functions and no _start", exports, abi.ReactorEntry)
	}
	again, err := rea.Build(ctx, []byte(okNode), "n.go")
	if err != nil || !again.CacheHit || !bytes.Equal(again.Wasm, r.Wasm) {
		t.Fatalf("second reactor build: hit %v, same %v, err %v", again != nil && again.CacheHit, again != nil && bytes.Equal(again.Wasm, r.Wasm), err)
	}
}
