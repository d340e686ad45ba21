package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sgde-project/sgde/internal/nodeexec"
	"github.com/sgde-project/sgde/sandbox"
)

// TestExecMeterFlags: the wazero engine meters by default (--fuel bounds a call, usage reports
// fuel), --repeat adds a summary line, and --meter=off warns and refuses --fuel.
func TestExecMeterFlags(t *testing.T) {
	warmCache(t)
	input := `{"program": "def solution():\n    return 6 * 7\n"}`
	code, out, errOut := runCLI(t, "exec", arithSource, "--input", input, "--repeat", "3", "--json")
	if code != exitOK {
		t.Fatalf("--repeat 3: exit %d, stderr %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("--repeat 3 printed %d lines, want the first call and a summary: %q", len(lines), out)
	}
	var first struct {
		Usage sandbox.Usage `json:"usage"`
	}
	var sum nodeexec.Summary
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &sum); err != nil {
		t.Fatal(err)
	}
	s := sum.Summary
	if !first.Usage.Metered || first.Usage.Fuel == 0 || s.Calls != 3 || s.Failed != 0 || !s.Metered ||
		s.Fuel == nil || *s.Fuel != first.Usage.Fuel || s.LatencyP50us <= 0 || s.LatencyP99us < s.LatencyP50us {
		t.Fatalf("first call usage %+v, summary %s", first.Usage, lines[1])
	}

	code, out, _ = runCLI(t, "exec", arithSource, "--input", input, "--fuel", "1000", "--json")
	if code != exitLimit || !strings.Contains(out, `"kind":"fuel_exhausted"`) {
		t.Fatalf("--fuel 1000: exit %d, stdout %q: want exit 3 and fuel_exhausted", code, out)
	}

	// --meter=off compiles the unrewritten module, which warmCache did not precompile; under
	// -race wazero takes tens of seconds for it, and loading is bounded by --timeout (+10 s).
	code, out, errOut = runCLI(t, "exec", arithSource, "--input", input, "--meter=off", "--timeout", "2m", "--json")
	if code != exitOK || !strings.Contains(out, `"answer":42`) || !strings.Contains(out, `"metered":false`) || !strings.Contains(errOut, "WARNING") {
		t.Fatalf("--meter=off: exit %d, stdout %q, stderr %q: want the answer, metered false and a warning", code, out, errOut)
	}
	for _, args := range [][]string{
		{"--meter=off", "--fuel", "5"},
		{"--meter", "maybe"},
		{"--repeat", "0"},
	} {
		if code, _, errOut := runCLI(t, append([]string{"exec", arithSource, "--input", input}, args...)...); code != exitUsage {
			t.Errorf("%v: exit %d (stderr %q), want %d", args, code, errOut, exitUsage)
		}
	}
}

// TestExecPreinit: --preinit serves calls from restored pooled instances of a reactor build:
// same answer as the command build, less fuel (no initialisation), same fuel every call.
func TestExecPreinit(t *testing.T) {
	warmCache(t)
	input := `{"program": "def solution():\n    return 6 * 7\n"}`
	_, cmdOut, _ := runCLI(t, "exec", arithSource, "--input", input, "--json")
	code, out, errOut := runCLI(t, "exec", arithSource, "--input", input, "--preinit", "--repeat", "4", "--json")
	if code != exitOK {
		t.Fatalf("--preinit: exit %d, stderr %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var cmdLine, first struct {
		Output json.RawMessage `json:"output"`
		Usage  sandbox.Usage   `json:"usage"`
	}
	var sum nodeexec.Summary
	if len(lines) != 2 || json.Unmarshal([]byte(lines[0]), &first) != nil || json.Unmarshal([]byte(lines[1]), &sum) != nil || json.Unmarshal([]byte(cmdOut), &cmdLine) != nil {
		t.Fatalf("output %q, command output %q", out, cmdOut)
	}
	if string(first.Output) != string(cmdLine.Output) || first.Usage.Fuel == 0 || first.Usage.Fuel >= cmdLine.Usage.Fuel || sum.Summary.Failed != 0 || *sum.Summary.Fuel != first.Usage.Fuel {
		t.Fatalf("--preinit %s, command %s, summary %s", lines[0], cmdOut, lines[1])
	}
	if code, _, _ := runCLI(t, "exec", arithSource, "--input", input, "--preinit", "--meter=off"); code != exitUsage {
		t.Errorf("--preinit --meter=off: exit %d, want %d", code, exitUsage)
	}
}
