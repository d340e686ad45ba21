package main

import (
	"strings"
	"testing"

	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/sandbox"
)

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
