package runtime_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/llm"
	"github.com/sgde-project/sgde/runtime/metric"
)

// planRouted classifies with an llm node and routes to one of three branches: "doubled" (a
// student call and a code node), "plain" (one student call, the default) and "broken" (whose
// student answer never parses).
const planRouted = `
apiVersion: sgde/v1
kind: Plan
metadata: {name: routed}
inputs:
  - {name: question, type: string}
output: route
nodes:
  - id: kind
    substrate: llm
    llm:
      prompt: "Which kind? {{ inputs.question }}"
      parser: {type: text}
  - id: route
    substrate: router
    router:
      on: kind
      default: plain
      branches:
        - name: doubled
          inputs: {q: inputs.question}
          plan:
            apiVersion: sgde/v1
            kind: Plan
            metadata: {name: doubled}
            inputs: [{name: q, type: string}]
            output: double.y
            nodes:
              - id: solve
                substrate: llm
                llm: {prompt: "Solve {{ inputs.q }}", parser: {type: number}}
              - id: double
                substrate: code
                code: {source: "// double\npackage main\n", inputs: {x: solve}, outputs: {y: number}}
        - name: plain
          inputs: {q: inputs.question}
          plan:
            apiVersion: sgde/v1
            kind: Plan
            metadata: {name: plain}
            inputs: [{name: q, type: string}]
            output: solve
            nodes:
              - id: solve
                substrate: llm
                llm: {prompt: "Solve {{ inputs.q }}", parser: {type: number}}
        - name: broken
          inputs: {q: inputs.question}
          plan:
            apiVersion: sgde/v1
            kind: Plan
            metadata: {name: broken}
            inputs: [{name: q, type: string}]
            output: solve
            nodes:
              - id: solve
                substrate: llm
                llm: {prompt: "Broken {{ inputs.q }}", parser: {type: number}}
`

// routedStudent names the kind the question asks for, solves with 21 and never answers the
// broken branch with a number.
func routedStudent() *student {
	return &student{answer: func(req llm.Request) (string, error) {
		u := lastUser(req)
		switch {
		case strings.HasPrefix(u, "Which kind? "):
			q := strings.TrimPrefix(u, "Which kind? ")
			switch {
			case strings.Contains(q, "double"):
				return "This one is doubled.", nil
			case strings.Contains(q, "break"):
				return "broken", nil
			case strings.Contains(q, "plain"):
				return "PLAIN", nil
			}
			return "no idea", nil
		case strings.HasPrefix(u, "Broken "):
			return "no number here", nil
		}
		return "The answer is 21.", nil
	}}
}

func TestRouterRuns(t *testing.T) {
	r := newRunner(t, routedStudent(), 4)
	prog, err := r.Prepare(mustPlan(t, planRouted))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		question, branch, want, errKind string
		defaulted                       bool
		calls                           int
	}{
		{"double it", "doubled", "42", "", false, 2},
		{"plain one", "plain", "21", "", false, 2},
		{"something else", "plain", "21", "", true, 2},
		{"break it", "broken", "", runtime.KindParse, false, 2},
		{"double again", "doubled", "42", "", false, 2}, // the failure above failed only its run
	}
	for _, tt := range tests {
		res, err := prog.Run(context.Background(), map[string]any{"question": tt.question})
		tr := res.Trace
		if len(tr.Nodes) != 2 || tr.Nodes[1].Route == nil {
			t.Fatalf("%s: trace nodes %+v", tt.question, tr.Nodes)
		}
		rt := tr.Nodes[1].Route
		if rt.Branch != tt.branch || rt.Defaulted != tt.defaulted || rt.Reason == "" || rt.Run == nil {
			t.Errorf("%s: route = %+v, want branch %s defaulted %v", tt.question, rt, tt.branch, tt.defaulted)
		}
		if tr.Calls != tt.calls {
			t.Errorf("%s: run calls = %d, want %d (classifier + branch)", tt.question, tr.Calls, tt.calls)
		}
		if tt.errKind != "" {
			if err == nil || runtime.KindOf(err) != tt.errKind || !strings.Contains(err.Error(), `branch "broken"`) || tr.ErrorNode != "route" {
				t.Errorf("%s: err = %v (kind %s, node %s), want %s naming the branch", tt.question, err, runtime.KindOf(err), tr.ErrorNode, tt.errKind)
			}
			if rt.Run.Error == "" || rt.Run.ErrorNode != "solve" {
				t.Errorf("%s: branch trace error %q at %q", tt.question, rt.Run.Error, rt.Run.ErrorNode)
			}
			continue
		}
		if err != nil || fmt.Sprint(res.Output) != tt.want {
			t.Errorf("%s: output %v, err %v; want %s", tt.question, res.Output, err, tt.want)
		}
	}
}

// TestRouterEval: an eval of a routed plan scores the chosen branch's output, counts the calls
// inside branches, and keeps going past a branch's failure.
func TestRouterEval(t *testing.T) {
	r := newRunner(t, routedStudent(), 4)
	prog, err := r.Prepare(mustPlan(t, planRouted))
	if err != nil {
		t.Fatal(err)
	}
	items := []runtime.Item{
		{ID: "a", Inputs: map[string]any{"question": "double"}, Label: json.Number("42")},
		{ID: "b", Inputs: map[string]any{"question": "plain"}, Label: json.Number("21")},
		{ID: "c", Inputs: map[string]any{"question": "break"}, Label: json.Number("21")},
		{ID: "d", Inputs: map[string]any{"question": "plain"}, Label: json.Number("42")},
	}
	rep, err := runtime.Eval(context.Background(), prog, items, metric.Numeric{RelTol: metric.DefaultRelTol}, runtime.EvalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Accuracy.N != 4 || rep.Accuracy.Correct != 2 || rep.Errors != 1 || rep.ErrorKinds[runtime.KindParse] != 1 {
		t.Errorf("report = %+v", rep)
	}
	if rep.CallsPerItem != 2 {
		t.Errorf("calls per item = %v, want 2 (classifier + branch)", rep.CallsPerItem)
	}
}

// TestBuildCodeReachesBranches: the code node inside a router branch is built up front.
func TestBuildCodeReachesBranches(t *testing.T) {
	b := &fakeBuilder{}
	built, _, err := runtime.BuildCode(context.Background(), b, mustPlan(t, planRouted))
	if err != nil || built != 1 || b.builds.Load() != 1 {
		t.Fatalf("built %d (builder saw %d), err %v; want the branch's one code node", built, b.builds.Load(), err)
	}
}
