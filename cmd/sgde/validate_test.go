package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// runCLI drives the CLI in-process and returns the exit code and both streams.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), append([]string{"sgde"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

const plansDir = "../../testdata/plans"

func TestValidateExamples(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(plansDir, "*.yaml"))
	if len(files) < 2 {
		t.Fatalf("want the example plans, found %v", files)
	}
	code, out, errOut := runCLI(t, append([]string{"validate"}, files...)...)
	if code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
	okLine := regexp.MustCompile(`^ok \S+\.yaml sha256:[0-9a-f]{64}$`)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(files) {
		t.Fatalf("got %d lines for %d plans:\n%s", len(lines), len(files), out)
	}
	for _, l := range lines {
		if !okLine.MatchString(l) {
			t.Errorf("line %q does not match %s", l, okLine)
		}
	}
}

func TestValidateInvalid(t *testing.T) {
	tests := []struct {
		file string
		want string
	}{
		{"invalid/cycle.yaml", `cycle.yaml:11: node "draft": dependency cycle: "draft" -> "check" -> "draft"`},
		{"invalid/unknown-field.yaml", `unknown-field.yaml:14: node "answer": unknown field "promt" (did you mean "prompt"?)`},
		{"invalid/unknown-field.json", `unknown-field.json:13: node "answer": unknown field "schema_"`},
		{"invalid/dangling-ref.yaml", `dangling-ref.yaml:14: node "write": reference "drafts": no node "drafts"`},
		{"invalid/escaping-path.yaml", `escaping-path.yaml:14: node "evaluate": code.path "../../code/arith_program.go" escapes the plan folder`},
		{"invalid/limits.yaml", `limits.yaml:26: node "evaluate": limits.memory_mib is 2, want at least 4`},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			code, out, errOut := runCLI(t, "validate", filepath.Join(plansDir, tc.file))
			if code != exitFailure {
				t.Errorf("exit %d, want %d", code, exitFailure)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			if !strings.Contains(errOut, tc.want) {
				t.Errorf("stderr:\n%s\nwant it to contain:\n%s", errOut, tc.want)
			}
		})
	}
}

func TestValidateMixedAndCanonical(t *testing.T) {
	good := filepath.Join(plansDir, "gsm-hard-zero-shot.yaml")
	code, out, errOut := runCLI(t, "validate", good, filepath.Join(plansDir, "invalid/cycle.yaml"))
	if code != exitFailure || !strings.HasPrefix(out, "ok ") || !strings.Contains(errOut, "1 of 2 plans are invalid") {
		t.Errorf("mixed: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	code, out, _ = runCLI(t, "validate", "--canonical", good)
	if code != exitOK || !strings.HasPrefix(out, `{"apiVersion":"sgde/v1",`) || strings.Count(out, "\n") != 1 {
		t.Errorf("--canonical: exit %d, stdout %q", code, out)
	}
	code, _, errOut = runCLI(t, "validate", filepath.Join(t.TempDir(), "missing.yaml"))
	if code != exitFailure || !strings.Contains(errOut, "no such file") {
		t.Errorf("missing file: exit %d, stderr %q", code, errOut)
	}
}

func TestValidateUsage(t *testing.T) {
	for _, args := range [][]string{{"validate"}, {"validate", "--nope", "x.yaml"}, {"graph"}, {"graph", "a.yaml", "b.yaml"}, {"graph", "--format", "png", filepath.Join(plansDir, "gsm-hard-zero-shot.yaml")}} {
		if code, _, errOut := runCLI(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d (stderr %q)", args, code, exitUsage, errOut)
		}
	}
}

func TestHelpHasExamples(t *testing.T) {
	for _, cmd := range []string{"validate", "graph", "version"} {
		code, out, _ := runCLI(t, cmd, "--help")
		if code != exitOK || !strings.Contains(out, "Example") || !strings.Contains(out, "sgde "+cmd) {
			t.Errorf("%s --help: exit %d, output:\n%s", cmd, code, out)
		}
	}
}

func TestGraph(t *testing.T) {
	plan := filepath.Join(plansDir, "gsm-hard-compiled.yaml")
	for format, want := range map[string][]string{
		"mermaid": {"flowchart TD", `subgraph n_solve[`, `n_write("write<br/>llm · code"):::llm`, `n_evaluate{{"evaluate<br/>code · inline"}}:::code`, "vote_solve --> output"},
		"dot":     {"digraph", "subgraph cluster_solve {", "shape=hexagon", `style="rounded,filled"`, "vote_solve -> output;"},
		"svg":     {"<svg", `class="consensus" id="n_solve"`, `class="llm" id="n_write"`, `class="code" id="n_evaluate"`, `class="vote" id="vote_solve"`},
	} {
		code, out, errOut := runCLI(t, "graph", "--format", format, plan)
		if code != exitOK {
			t.Fatalf("%s: exit %d: %s", format, code, errOut)
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s output lacks %q:\n%s", format, w, out)
			}
		}
	}
	code, _, errOut := runCLI(t, "graph", filepath.Join(plansDir, "invalid/cycle.yaml"))
	if code != exitFailure || !strings.Contains(errOut, `node "draft"`) {
		t.Errorf("graph of an invalid plan: exit %d, stderr %q", code, errOut)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runCLI(t, "version")
	if code != exitOK || !strings.HasPrefix(out, "sgde ") {
		t.Errorf("version: exit %d, %q", code, out)
	}
	if code, _, _ := runCLI(t, "version", "extra"); code != exitUsage {
		t.Errorf("version extra: exit %d, want %d", code, exitUsage)
	}
}

// TestValidateChecksCode: a plan whose code node does not parse passes the plan schema but not
// validate; --build would also catch what only the compiler sees.
func TestValidateChecksCode(t *testing.T) {
	dir := t.TempDir()
	writeFile := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	writeFile("bad.go", "package main\n\nfunc main( {\n")
	plan := writeFile("p.yaml", `apiVersion: sgde/v1
kind: Plan
metadata: {name: p}
inputs:
  - {name: x, type: number}
output: c.y
nodes:
  - id: c
    substrate: code
    code:
      path: bad.go
      inputs: {x: inputs.x}
      outputs: {y: number}
`)
	code, _, errOut := runCLI(t, "validate", plan)
	if code != exitFailure || !strings.Contains(errOut, `node "c"`) {
		t.Errorf("validate of a plan whose code does not parse: exit %d, %s", code, errOut)
	}
}
