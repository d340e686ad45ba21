package sandbox_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/sandbox"
)

// TestNew checks the one constructor: metered by default, other modes only when asked, and
// typed errors for what cannot be started.
func TestNew(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		engine  plans.EngineName
		opts    []sandbox.Option
		wantErr error // nil: starts
	}{
		{"default", plans.EngineWazero, nil, nil},
		{"wall clock", plans.EngineWazero, []sandbox.Option{sandbox.WithMetering(sandbox.MeterWallClock)}, nil},
		{"trusted", plans.EngineWazero, []sandbox.Option{sandbox.WithMetering(sandbox.MeterNone)}, nil},
		{"unknown", "v8", nil, plans.ErrUnknownEngine},
		{"empty name", "", nil, plans.ErrUnknownEngine},
		{"wasmtime trusted", plans.EngineWasmtime, []sandbox.Option{sandbox.WithMetering(sandbox.MeterNone)}, sandbox.ErrEngineUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := sandbox.New(ctx, tt.engine, tt.opts...)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close(ctx)
			if e.Name() != tt.engine {
				t.Errorf("Name() = %q, want %q", e.Name(), tt.engine)
			}
		})
	}
	// wasmtime: present with the build tag, else a typed error that says how to get it.
	e, err := sandbox.New(ctx, plans.EngineWasmtime)
	if avail := sandbox.Available(plans.EngineWasmtime); avail != nil {
		if !errors.Is(err, sandbox.ErrEngineUnavailable) || !strings.Contains(err.Error(), "-tags wasmtime") || !errors.Is(avail, sandbox.ErrEngineUnavailable) {
			t.Fatalf("wasmtime without the tag: New %v, Available %v", err, avail)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	if e.Name() != plans.EngineWasmtime {
		t.Errorf("Name() = %q", e.Name())
	}
}
