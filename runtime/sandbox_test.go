package runtime_test

import (
	"context"
	"errors"
	goruntime "runtime"
	"testing"

	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/sandbox"
	"github.com/sgde-project/sgde/wasm"
)

// TestSandboxPairs checks that the library, not the CLI, decides which builder goes with which
// engine: reactors only for the fuel-metered wazero engine on Linux, and a runner refuses a
// reactor builder paired with any other engine.
func TestSandboxPairs(t *testing.T) {
	ctx := context.Background()
	if _, err := wasm.NewBuilder(wasm.WithCacheDir(""), wasm.WithGoCache(t.TempDir())); err != nil {
		t.Skipf("no toolchain: %v", err)
	}
	bopts := []wasm.BuilderOption{wasm.WithCacheDir(""), wasm.WithGoCache(t.TempDir())}
	tests := []struct {
		name         string
		engine       plans.EngineName
		opts         []sandbox.Option
		wantReactors bool
	}{
		{"metered wazero", plans.EngineWazero, nil, goruntime.GOOS == "linux"},
		{"wall-clock wazero", plans.EngineWazero, []sandbox.Option{sandbox.WithMetering(sandbox.MeterWallClock)}, false},
		{"trusted wazero", plans.EngineWazero, []sandbox.Option{sandbox.WithMetering(sandbox.MeterNone)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eng, b, err := runtime.NewSandbox(ctx, tt.engine, tt.opts, bopts...)
			if err != nil {
				t.Fatal(err)
			}
			defer eng.Close(ctx)
			if eng.Name() != tt.engine || b.Reactor() != tt.wantReactors || sandbox.PreinitialisesReactors(eng) != tt.wantReactors {
				t.Fatalf("engine %s, reactor builder %v, want %s and %v", eng.Name(), b.Reactor(), tt.engine, tt.wantReactors)
			}
			if _, err := runtime.New(runtime.Options{Engine: eng, Builder: b}); err != nil {
				t.Errorf("matched pair refused: %v", err)
			}
			reactor, err := wasm.NewBuilder(append(bopts, wasm.WithReactor())...)
			if err != nil {
				t.Fatal(err)
			}
			_, err = runtime.New(runtime.Options{Engine: eng, Builder: reactor})
			if tt.wantReactors != (err == nil) || (err != nil && !errors.Is(err, sandbox.ErrEngineUnavailable)) {
				t.Errorf("reactor builder with %s: err = %v", tt.name, err)
			}
			if _, err := runtime.NewBuilderFor(eng, append(bopts, wasm.WithReactor())...); tt.wantReactors != (err == nil) {
				t.Errorf("NewBuilderFor(WithReactor) with %s: err = %v", tt.name, err)
			}
		})
	}
	if _, _, err := runtime.NewSandbox(ctx, "v8", nil); !errors.Is(err, plans.ErrUnknownEngine) {
		t.Errorf("engine v8: %v, want ErrUnknownEngine", err)
	}
	if err := sandbox.Available(plans.EngineWasmtime); err != nil && !errors.Is(err, sandbox.ErrEngineUnavailable) {
		t.Errorf("Available(wasmtime) = %v, want nil or ErrEngineUnavailable", err)
	}
}
