package serve

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/llm"
)

// routedPlan sends questions an llm classifier calls "sum" to a branch that answers with a
// number and everything else to a branch that echoes the student's text.
const routedPlan = `apiVersion: sgde/v1
kind: Plan
metadata: {name: routed}
inputs: [{name: question, type: string}]
output: route
nodes:
  - id: kind
    substrate: llm
    llm: {prompt: "Kind? {{ inputs.question }}", parser: {type: text}}
  - id: route
    substrate: router
    router:
      on: kind
      default: talk
      branches:
        - name: sum
          inputs: {q: inputs.question}
          plan:
            apiVersion: sgde/v1
            kind: Plan
            metadata: {name: sum}
            inputs: [{name: q, type: string}]
            output: n
            nodes:
              - {id: n, substrate: llm, llm: {prompt: "Sum {{ inputs.q }}", parser: {type: number}}}
        - name: talk
          inputs: {q: inputs.question}
          plan:
            apiVersion: sgde/v1
            kind: Plan
            metadata: {name: talk}
            inputs: [{name: q, type: string}]
            output: t
            nodes:
              - {id: t, substrate: llm, llm: {prompt: "Talk {{ inputs.q }}", parser: {type: text}}}
`

type routedStudent struct{}

func (routedStudent) Complete(_ context.Context, req llm.Request) (llm.Response, error) {
	u := req.Messages[len(req.Messages)-1].Content
	text := "hello there"
	switch {
	case strings.HasPrefix(u, "Kind? "):
		text = "chat"
		if strings.ContainsAny(u, "+") {
			text = "Sum."
		}
	case strings.HasPrefix(u, "Sum "):
		if strings.Contains(u, "bad") {
			text = "no idea"
		} else {
			text = "The answer is 5."
		}
	}
	return llm.Response{Text: text, FinishReason: "stop"}, nil
}

// TestServeRouter: a router plan is served through the run endpoint and the OpenAI-compatible
// chat API; the trace says which branch ran, and a branch's failure fails only its request,
// naming the branch.
func TestServeRouter(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "routed.yaml"), []byte(routedPlan), 0o644); err != nil {
		t.Fatal(err)
	}
	factory := func(context.Context, string, string) (*runtime.Runner, func(), error) {
		r, err := runtime.New(runtime.Options{Student: routedStudent{}, Model: "fake"})
		return r, nil, err
	}
	s := newTestServer(t, Options{PlansDir: dir, Tenants: daveTenants(t, ""), NewRunner: factory})
	h := s.Handler()
	r := do(t, h, "POST", "/v1/plans/routed/run", daveKey, `{"inputs":{"question":"2+3"},"trace":true}`)
	if r.status != 200 || !strings.Contains(string(r.body), `"output":5`) || !strings.Contains(string(r.body), `"branch":"sum"`) {
		t.Fatalf("run: %d %s", r.status, r.body)
	}
	r = do(t, h, "POST", "/v1/chat/completions", daveKey, `{"model":"routed","messages":[{"role":"user","content":"how are you"}]}`)
	if r.status != 200 || !strings.Contains(string(r.body), `"content":"hello there"`) {
		t.Fatalf("chat: %d %s", r.status, r.body)
	}
	r = do(t, h, "POST", "/v1/plans/routed/run", daveKey, `{"inputs":{"question":"bad+1"}}`)
	if r.status < 400 || !strings.Contains(string(r.body), `branch \"sum\"`) {
		t.Fatalf("failing branch: %d %s", r.status, r.body)
	}
	if r := do(t, h, "POST", "/v1/plans/routed/run", daveKey, `{"inputs":{"question":"1+1"}}`); r.status != 200 {
		t.Fatalf("after a branch failure: %d %s", r.status, r.body)
	}
}

// TestClampRouterBranches: a tenant's fuel and memory ceilings reach code nodes inside router
// branches, not only the top-level ones.
func TestClampRouterBranches(t *testing.T) {
	src := strings.Replace(routedPlan, `              - {id: n, substrate: llm, llm: {prompt: "Sum {{ inputs.q }}", parser: {type: number}}}`,
		`              - {id: n, substrate: llm, llm: {prompt: "Sum {{ inputs.q }}", parser: {type: number}}}
              - {id: c, substrate: code, code: {source: "package main\n\nfunc main() {}\n", inputs: {x: n}, outputs: {y: number}, limits: {fuel: 900000000, memory_mib: 512}}}`, 1)
	p, err := plans.Parse([]byte(src), "routed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fuel, mem := uint64(1000), uint32(16)
	cp, err := clampPlan(p, &fuel, &mem)
	if err != nil {
		t.Fatal(err)
	}
	var seen int
	cp.Walk(func(_ *plans.Plan, n *plans.Node) {
		if n.Code != nil {
			seen++
			if l := n.Code.Limits; l == nil || *l.Fuel != fuel || *l.MemoryMiB != mem {
				t.Errorf("branch code node %q limits %+v, want fuel %d memory %d", n.ID, l, fuel, mem)
			}
		}
	})
	if seen != 1 {
		t.Fatalf("code nodes seen: %d", seen)
	}
	if err := cp.Validate(); err != nil {
		t.Fatalf("the clamped copy does not validate: %v", err)
	}
}
