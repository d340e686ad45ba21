package serve

import (
	"context"
	"errors"
	"testing"

	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/cache"
	"github.com/sgde-project/sgde/runtime/llm"
)

// A tenant's cache is opened with its first runner, shared by its runners of every engine, and
// closed with the last; a failed runner leaves nothing open.
func TestPoolSharesAndClosesTenantParts(t *testing.T) {
	opened, closed, clients := map[string]int{}, map[string]int{}, 0
	var engines []string
	fail := false
	p := NewPool(PoolOptions{
		Runner:        runtime.Options{CacheMode: cache.ModeOff},
		DefaultEngine: "wazero",
		OpenCache: func(tenant string) (cache.Store, func(), error) {
			opened[tenant]++
			return nil, func() { closed[tenant]++ }, nil
		},
		NewStudent: func() (*llm.Client, error) {
			clients++
			return llm.New(llm.NewConfig("http://127.0.0.1:1/v1", "m"))
		},
		NewRunner: func(_ context.Context, opts runtime.Options, engine string) (*runtime.Runner, func(), error) {
			if fail {
				return nil, nil, errors.New("no engine")
			}
			if opts.Student == nil {
				t.Error("runner built without the tenant's student")
			}
			engines = append(engines, engine)
			r, err := runtime.New(opts)
			return r, func() { r.Close(context.Background()) }, err
		},
	})
	ctx := context.Background()
	_, relA1, err := p.Runner(ctx, "a", "")
	if err != nil {
		t.Fatal(err)
	}
	_, relA2, err := p.Runner(ctx, "a", "wasmtime")
	if err != nil {
		t.Fatal(err)
	}
	_, relB, err := p.Runner(ctx, "b", "wazero")
	if err != nil {
		t.Fatal(err)
	}
	if opened["a"] != 1 || opened["b"] != 1 || clients != 2 || p.Tenants() != 2 {
		t.Fatalf("opened %v, %d clients, %d tenants: want one cache and client per tenant", opened, clients, p.Tenants())
	}
	if len(engines) != 3 || engines[0] != "wazero" || engines[1] != "wasmtime" {
		t.Errorf("engines %v: want the default for \"\"", engines)
	}
	relA1()
	if closed["a"] != 0 {
		t.Error("tenant a's cache closed while a runner still uses it")
	}
	relA2()
	relB()
	if closed["a"] != 1 || closed["b"] != 1 || p.Tenants() != 0 {
		t.Errorf("closed %v, %d tenants left: want every cache closed once", closed, p.Tenants())
	}
	fail = true
	if _, _, err := p.Runner(ctx, "c", ""); err == nil {
		t.Fatal("failed runner reported no error")
	}
	if opened["c"] != 1 || closed["c"] != 1 || p.Tenants() != 0 {
		t.Errorf("after a failed runner: opened %v closed %v, %d tenants", opened, closed, p.Tenants())
	}
}
