package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sgde-project/sgde/internal/testcache"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/llm"
	"github.com/sgde-project/sgde/runtime/llm/llmtest"
	"github.com/sgde-project/sgde/sandbox"
	"github.com/sgde-project/sgde/wasm"
)

var (
	realOnce    sync.Once
	realEngine  sandbox.Engine
	realBuilder *wasm.Builder
	realErr     error
)

// realSandbox returns one wazero engine and builder shared by the tests of this package, with
// compiled code cached across runs.
func realSandbox(t *testing.T) (sandbox.Engine, *wasm.Builder) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds WebAssembly with the Go toolchain; skipped with -short")
	}
	realOnce.Do(func() {
		realBuilder, realErr = wasm.NewBuilder()
		if realErr != nil {
			return
		}
		realEngine, realErr = sandbox.New(context.Background(), plans.EngineWazero, sandbox.WithMetering(sandbox.MeterWallClock),
			sandbox.WithCompilationCacheDir(testcache.Dir("wazero")))
	})
	if realErr != nil {
		t.Skipf("no sandbox: %v", realErr)
	}
	return realEngine, realBuilder
}

// TestCompiledPlanEndToEnd runs the shipped compiled GSM-Hard plan over HTTP against the test
// server, with the real arith_program code node in wazero. One sample writes a program that
// fails inside the sandbox; it is recorded and does not vote.
func TestCompiledPlanEndToEnd(t *testing.T) {
	eng, b := realSandbox(t)
	p, err := plans.Load("../testdata/plans/gsm-hard-compiled.yaml")
	if err != nil {
		t.Fatal(err)
	}
	srv := llmtest.NewServer()
	defer srv.Close()
	srv.Answer = func(req llmtest.Request) string {
		if req.Seed != nil && *req.Seed == 23 {
			return "```python\ndef solution():\n    return 1 / 0\n```"
		}
		return "```python\ndef solution():\n    blue = 2287720\n    white = blue / 2\n    return blue + white\n```"
	}
	srv.Script(llmtest.TooManyRequests, llmtest.Garbage) // transport trouble on the way
	client, err := llm.New(llm.NewConfig(srv.BaseURL(), "m").WithBackoff(1e6, 1e7))
	if err != nil {
		t.Fatal(err)
	}
	r, err := runtime.New(runtime.Options{Student: client, Model: "m", Engine: eng, Builder: b})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	res, err := r.Run(context.Background(), p, map[string]any{"question": "A robe takes 2287720 bolts of blue fiber and half that much white fiber. How many bolts in total does it take?"})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(res.Output); got != "3431580" {
		t.Errorf("output = %s, want 3431580", got)
	}
	c := res.Trace.Nodes[0].Consensus
	if c.Votes[0].Count != 4 {
		t.Errorf("votes = %+v, want 4 for the winner", c.Votes)
	}
	failed := c.Samples[1]
	ev := failed.Nodes[len(failed.Nodes)-1]
	if ev.ID != "evaluate" || ev.ErrorKind != "code_guest_error" || !strings.Contains(ev.Error, "division by zero") {
		t.Errorf("failed sample = %+v", ev)
	}
	if u := c.Samples[0].Nodes[1].Code; u == nil || u.Engine != "wazero" || u.PeakMemoryBytes == 0 || !strings.HasPrefix(u.Digest, "sha256:") {
		t.Errorf("code usage = %+v", u)
	}
	if res.Trace.Calls != 7 { // 5 samples, one 429 and one garbage reply retried
		t.Errorf("student calls = %d, want 7", res.Trace.Calls)
	}
}

const planJSON = `
apiVersion: sgde/v1
kind: Plan
metadata: {name: extract}
inputs: [{name: text, type: string}]
output: report
nodes:
  - id: extract
    substrate: llm
    retries: 1
    llm:
      prompt: "Extract from: {{ inputs.text }}"
      parser:
        type: json
        schema:
          type: object
          properties: {city: {type: string}, population: {type: integer}}
          required: [city]
  - id: report
    substrate: llm
    llm:
      prompt: "{{ extract.city }} has {{ extract.population }} people"
      parser: {type: text}
`

// TestJSONSchemaOverHTTP: a json parser with a schema sends response_format (falling back when
// the endpoint refuses it), the parsed object's fields flow on by NODE.FIELD, and a reply that
// lacks a referenced field fails as missing_field naming the reading node.
func TestJSONSchemaOverHTTP(t *testing.T) {
	srv := llmtest.NewServer()
	defer srv.Close()
	reply := `Sure! {"city": "Lyon", "population": 522250}`
	srv.Answer = func(req llmtest.Request) string {
		if strings.HasPrefix(req.Messages[0].Content, "Extract") {
			return reply
		}
		return req.Messages[0].Content
	}
	srv.Script(llmtest.SchemaUnsupported)
	client, _ := llm.New(llm.NewConfig(srv.BaseURL(), "m").WithRetries(0))
	r, _ := runtime.New(runtime.Options{Student: client})
	p := mustPlan(t, planJSON)
	res, err := r.Run(context.Background(), p, map[string]any{"text": "Lyon, 522250 inhabitants"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Output != "Lyon has 522250 people" {
		t.Errorf("output = %q", res.Output)
	}
	reqs := srv.Requests()
	if reqs[0].ResponseFormat == nil || reqs[0].ResponseFormat["type"] != "json_schema" {
		t.Errorf("first request carried no json_schema response_format: %+v", reqs[0].ResponseFormat)
	}
	if reqs[1].ResponseFormat != nil {
		t.Errorf("after the endpoint refused response_format, it was sent again")
	}
	if tk := res.Trace.Nodes[0].Tokens; tk == nil || tk.Total == 0 {
		t.Errorf("tokens per node not recorded: %+v", res.Trace.Nodes[0])
	}

	reply = `{"city": "Lyon"}`
	_, err = r.Run(context.Background(), p, map[string]any{"text": "Lyon"})
	var ne *runtime.NodeError
	if !errors.As(err, &ne) || ne.Kind != runtime.KindMissingField || ne.NodeID != "report" || !strings.Contains(err.Error(), "population") {
		t.Errorf("err = %v, want missing_field at report naming population", err)
	}
}

// TestCodePathResolvedAgainstPlanFolder: a code node's `path` is read from the plan's folder as
// plans.Load checked it, whatever the working directory. A same-named file in the working
// directory must not be what runs.
func TestCodePathResolvedAgainstPlanFolder(t *testing.T) {
	eng, b := realSandbox(t)
	planDir := t.TempDir()
	node := func(answer int) string {
		return fmt.Sprintf("package main\n\nimport \"github.com/sgde-project/sgde/wasm/guest\"\n\nfunc main() {\n\tguest.Run(func(in map[string]any) (map[string]any, error) {\n\t\treturn map[string]any{\"answer\": %d}, nil\n\t})\n}\n", answer)
	}
	if err := os.WriteFile(filepath.Join(planDir, "node.go"), []byte(node(41)), 0o644); err != nil {
		t.Fatal(err)
	}
	plan := `apiVersion: sgde/v1
kind: Plan
metadata: {name: path-node}
inputs: [{name: x, type: number}]
output: n.answer
nodes:
  - id: n
    substrate: code
    code:
      path: node.go
      inputs: {x: inputs.x}
      outputs: {answer: number}
`
	if err := os.WriteFile(filepath.Join(planDir, "plan.yaml"), []byte(plan), 0o644); err != nil {
		t.Fatal(err)
	}
	decoy := t.TempDir()
	if err := os.WriteFile(filepath.Join(decoy, "node.go"), []byte(node(666)), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := plans.Load(filepath.Join(planDir, "plan.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(decoy)
	r, err := runtime.New(runtime.Options{Engine: eng, Builder: b})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	res, err := r.Run(context.Background(), p, map[string]any{"x": 1})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(res.Output); got != "41" {
		t.Fatalf("output %s, want 41 from the plan folder's node.go", got)
	}
}
