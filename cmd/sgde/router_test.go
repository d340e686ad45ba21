package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sgde-project/sgde/runtime/llm/llmtest"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files of cmd/sgde tests")

// TestRouterRoundTrip takes the routed example plan (a code classifier run in the sandbox, an
// inline branch and a branch pinned by digest) through validate, graph, run, eval and trace,
// and compares what a user sees with testdata/router-roundtrip.golden.
func TestRouterRoundTrip(t *testing.T) {
	if os.Getenv("SGDE_TEST_LONG") == "" {
		t.Skip("long (about 20 s: builds the classifier to WebAssembly): make test-long")
	}
	clearStudentEnv(t)
	srv := llmtest.NewServer()
	t.Cleanup(srv.Close)
	srv.Answer = func(req llmtest.Request) string {
		if strings.Contains(req.Messages[len(req.Messages)-1].Content, "Answer the question.") {
			return "(B)"
		}
		return "The answer is 7."
	}
	const plan = "../../testdata/plans/mixed-routed.yaml"
	dir := t.TempDir()
	student := []string{"--student-url", srv.BaseURL(), "--student-model", "m", "--cache-mode", "off"}
	var transcript strings.Builder
	step := func(wantCode int, args ...string) string {
		t.Helper()
		code, stdout, stderr := runTestCLI(t, args...)
		if code != wantCode {
			t.Fatalf("sgde %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, wantCode, stdout, stderr)
		}
		return stdout
	}
	out := step(0, "validate", plan)
	transcript.WriteString("$ sgde validate\n" + strings.ReplaceAll(out, "../../", "") + "\n")
	out = step(0, "graph", plan, "--format", "mermaid")
	for _, want := range []string{`subgraph branch_route_darith["branch arith"]`, `subgraph branch_route_dchoice["branch choice"]`, `n_route -->|"choice"|`} {
		if !strings.Contains(out, want) {
			t.Errorf("graph lacks %s:\n%s", want, out)
		}
	}
	inputs := filepath.Join(dir, "in.jsonl")
	os.WriteFile(inputs, []byte(`{"question":"Which is red?\nOptions:\n(A) sky\n(B) blood"}`+"\n"+`{"question":"Tom has 3 apples and buys 4. How many?"}`+"\n"), 0o644)
	out = step(0, append([]string{"run", plan, "--inputs", inputs}, student...)...)
	transcript.WriteString("$ sgde run --inputs in.jsonl\n" + out + "\n")
	data := filepath.Join(dir, "data.jsonl")
	os.WriteFile(data, []byte(`{"idx":"c1","input":"Which is red?\nOptions:\n(A) sky\n(B) blood","target":"(B)"}`+"\n"+
		`{"idx":"c2","input":"Which is blue?\nOptions:\n(A) sky\n(B) blood","target":"(A)"}`+"\n"), 0o644)
	traces := filepath.Join(dir, "traces.jsonl")
	step(0, append([]string{"eval", plan, "--data", data, "--metric", "exact", "--results", filepath.Join(dir, "r.jsonl"), "--traces", traces, "-q"}, student...)...)
	tb, err := os.ReadFile(traces)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(tb), `"route":{"on":"classify.branch","classified":"choice","branch":"choice"`); n != 2 {
		t.Errorf("traces record the route of %d runs, want 2:\n%s", n, tb)
	}
	out = step(0, "trace", "show", traces, "--id", "c2", "--color", "never")
	var route string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "route:") {
			route = strings.TrimSpace(l)
		}
	}
	transcript.WriteString("$ sgde trace show --id c2 (route line)\n" + route + "\n")
	golden := "testdata/router-roundtrip.golden"
	if *updateGolden {
		if err := os.WriteFile(golden, []byte(transcript.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if transcript.String() != string(want) {
		t.Errorf("transcript differs from %s (run with -update after checking):\n%s", golden, transcript.String())
	}
}
