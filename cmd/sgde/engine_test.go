package main

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
		got, err := chooseEngine(tt.flag, tt.plan)
		var ue usageError
		switch {
		case (err != nil) != tt.fail:
			t.Errorf("chooseEngine(%q, %q) error %v, want error %v", tt.flag, tt.plan, err, tt.fail)
		case err != nil && errors.As(err, &ue) != tt.usage:
			t.Errorf("chooseEngine(%q, %q) = %v: usage error %v, want %v", tt.flag, tt.plan, err, !tt.usage, tt.usage)
		case got != tt.want:
			t.Errorf("chooseEngine(%q, %q) = %q, want %q", tt.flag, tt.plan, got, tt.want)
		}
	}
}

func TestNewEngine(t *testing.T) {
	t.Setenv("SGDE_CACHE_DIR", t.TempDir())
	ctx := context.Background()
	e, err := newEngine(ctx, plans.EngineWazero)
	if err != nil {
		t.Fatal(err)
	}
	if e.Name() != plans.EngineWazero {
		t.Errorf("engine %q, want wazero", e.Name())
	}
	e.Close(ctx)
	if _, err := newEngine(ctx, "v8"); err == nil {
		t.Error("newEngine(v8) succeeded")
	}

	e, err = newEngine(ctx, plans.EngineWasmtime)
	if sandbox.Available(plans.EngineWasmtime) != nil {
		// Built without -tags wasmtime: the error must say how to get it.
		if !errors.Is(err, sandbox.ErrEngineUnavailable) || !strings.Contains(err.Error(), "-tags wasmtime") {
			t.Fatalf("newEngine(wasmtime) without the tag: %v, want ErrEngineUnavailable", err)
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

// TestExecEngineFlag runs a code node on the wasmtime engine, where --fuel is metered, or checks
// the error of a binary built without it.
func TestExecEngineFlag(t *testing.T) {
	input := `{"program": "def solution():\n    return 6 * 7\n"}`
	code, out, errOut := runCLI(t, "exec", arithSource, "--engine", "wasmtime", "--input", input, "--json")
	if sandbox.Available(plans.EngineWasmtime) != nil {
		if code != exitFailure || !strings.Contains(errOut, "built without wasmtime") {
			t.Fatalf("exit %d, stderr %q: want exit 1 and how to get wasmtime", code, errOut)
		}
		return
	}
	if code != exitOK || !strings.Contains(out, `"answer":42`) || !strings.Contains(out, `"metered":true`) {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "exec", arithSource, "--engine", "wasmtime", "--fuel", "1000", "--input", input, "--json")
	if code != exitLimit || !strings.Contains(out, `"kind":"fuel_exhausted"`) {
		t.Fatalf("--fuel 1000: exit %d, stdout %q, stderr %q: want exit 3 and fuel_exhausted", code, out, errOut)
	}
	if code, _, _ := runCLI(t, "exec", arithSource, "--engine", "v8", "--input", input); code != exitUsage {
		t.Errorf("--engine v8: exit %d, want %d", code, exitUsage)
	}
}
