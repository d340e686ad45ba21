package runenv

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/sandbox"
)

func TestChooseEngine(t *testing.T) {
	tests := []struct {
		flag, plan string
		want       plans.EngineName
		usage      bool // a usage error (exit 2)
		fail       bool // any error
	}{
		{"", "", plans.EngineWazero, false, false},
		{"", "wasmtime", plans.EngineWasmtime, false, false},
		{"wazero", "wasmtime", plans.EngineWazero, false, false},
		{"wasmtime", "", plans.EngineWasmtime, false, false},
		{"v8", "", "", true, true},
		{"", "v8", "", false, true},
	}
	for _, tt := range tests {
		got, err := ChooseEngine(tt.flag, tt.plan)
		var se *SettingError
		switch {
		case (err != nil) != tt.fail:
			t.Errorf("ChooseEngine(%q, %q) error %v, want error %v", tt.flag, tt.plan, err, tt.fail)
		case err != nil && errors.As(err, &se) != tt.usage:
			t.Errorf("ChooseEngine(%q, %q) = %v: usage error %v, want %v", tt.flag, tt.plan, err, !tt.usage, tt.usage)
		case got != tt.want:
			t.Errorf("ChooseEngine(%q, %q) = %q, want %q", tt.flag, tt.plan, got, tt.want)
		}
	}
}

func TestNewEngine(t *testing.T) {
	t.Setenv("SGDE_CACHE_DIR", t.TempDir())
	ctx := context.Background()
	e, err := NewEngine(ctx, plans.EngineWazero)
	if err != nil {
		t.Fatal(err)
	}
	if e.Name() != plans.EngineWazero {
		t.Errorf("engine %q, want wazero", e.Name())
	}
	e.Close(ctx)
	if _, err := NewEngine(ctx, "v8"); err == nil {
		t.Error("NewEngine(v8) succeeded")
	}

	e, err = NewEngine(ctx, plans.EngineWasmtime)
	if sandbox.Available(plans.EngineWasmtime) != nil {
		// Built without -tags wasmtime: the error must say how to get it.
		if !errors.Is(err, sandbox.ErrEngineUnavailable) || !strings.Contains(err.Error(), "-tags wasmtime") {
			t.Fatalf("NewEngine(wasmtime) without the tag: %v, want ErrEngineUnavailable", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	if e.Name() != plans.EngineWasmtime {
		t.Errorf("engine %q, want wasmtime", e.Name())
	}
}
