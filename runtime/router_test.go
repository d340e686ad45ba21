package runtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/llm"
	"github.com/sgde-project/sgde/runtime/metric"
	"github.com/sgde-project/sgde/runtime/trace"
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

// TestRouterMisrouted: with a route check, an eval runs the other branches on the items the
// plan got wrong and marks those another branch gets right as misrouted, in the results, the
// traces and the report; items no branch gets right are not misrouted, and items the plan gets
// right cost no extra run.
func TestRouterMisrouted(t *testing.T) {
	r := newRunner(t, routedStudent(), 4)
	prog, err := r.Prepare(mustPlan(t, planRouted))
	if err != nil {
		t.Fatal(err)
	}
	items := []runtime.Item{
		{ID: "right", Inputs: map[string]any{"question": "plain"}, Label: json.Number("21")},
		// The classifier knows nothing of "mystery" questions and defaults to plain (21); the
		// doubled branch would have said 42.
		{ID: "defaulted", Inputs: map[string]any{"question": "mystery"}, Label: json.Number("42")},
		// Sent to the broken branch, which fails; plain would have said 21.
		{ID: "broken", Inputs: map[string]any{"question": "break"}, Label: json.Number("21")},
		// No branch says 99.
		{ID: "hopeless", Inputs: map[string]any{"question": "plain"}, Label: json.Number("99")},
	}
	var buf strings.Builder
	tw := trace.NewWriter(&buf)
	got := map[string]runtime.ItemResult{}
	rep, err := runtime.Eval(context.Background(), prog, items, metric.Numeric{RelTol: metric.DefaultRelTol}, runtime.EvalOptions{
		Routes: prog.RouteCheck(), Traces: tw, Concurrency: 1,
		OnResult: func(res runtime.ItemResult, _ *trace.Run) { got[res.ID] = res },
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		misrouted bool
		right     []string
	}{"right": {false, nil}, "defaulted": {true, []string{"doubled"}}, "broken": {true, []string{"plain"}}, "hopeless": {false, nil}}
	for id, w := range want {
		res := got[id]
		if res.Misrouted != w.misrouted || len(res.Routes) != 1 || !res.Routes[0].Checked || fmt.Sprint(res.Routes[0].Right) != fmt.Sprint(w.right) {
			t.Errorf("%s: misrouted %v routes %+v, want misrouted %v right %v", id, res.Misrouted, res.Routes, w.misrouted, w.right)
		}
		if res.Calls != 2 {
			t.Errorf("%s: calls %d, want the routed run's 2 (checks are counted apart)", id, res.Calls)
		}
	}
	if got["right"].RouteCheckCalls != 0 || got["hopeless"].RouteCheckCalls != 4 {
		t.Errorf("check calls: right %d (want 0), hopeless %d (want 2 forced runs x 2 calls)", got["right"].RouteCheckCalls, got["hopeless"].RouteCheckCalls)
	}
	if rep.Misrouted != 2 || len(rep.Routers) != 1 || rep.RouteCheckRequests != 12 {
		t.Fatalf("report: misrouted %d, routers %+v, check requests %d; want 2, one router, 12", rep.Misrouted, rep.Routers, rep.RouteCheckRequests)
	}
	rr := rep.Routers[0]
	if rr.Router != "route" || rr.Routed != 4 || rr.Checked != 4 || rr.Misrouted != 2 || rr.Accuracy != 0.5 {
		t.Errorf("router report %+v", rr)
	}
	branches := map[string]runtime.BranchReport{}
	for _, b := range rr.Branches {
		branches[b.Branch] = b
	}
	if b := branches["plain"]; b.Routed != 3 || b.Correct != 1 || b.Misrouted != 1 || b.Defaulted != 1 {
		t.Errorf("plain branch %+v", b)
	}
	if b := branches["broken"]; b.Routed != 1 || b.Misrouted != 1 {
		t.Errorf("broken branch %+v", b)
	}
	var misTraces int
	trace.Read(strings.NewReader(buf.String()), func(run *trace.Run) error {
		rt := run.Nodes[1].Route
		if rt.Misrouted {
			misTraces++
		}
		if (run.ID == "right") != (len(rt.Checked) == 0) {
			t.Errorf("%s: checked branches %v", run.ID, rt.Checked)
		}
		return nil
	})
	if misTraces != 2 {
		t.Errorf("%d traces marked misrouted, want 2:\n%s", misTraces, buf.String())
	}
	var out strings.Builder
	rep.Print(&out, "r.jsonl")
	for _, w := range []string{"router route", "accuracy 50.0% (2 misrouted of 4 checked", "branch plain", "route checks        12 student requests"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("printed report lacks %q:\n%s", w, out.String())
		}
	}
}

// TestRunForced: a forced router runs the imposed branch, says so, and an unknown branch fails
// the run as a plan error.
func TestRunForced(t *testing.T) {
	r := newRunner(t, routedStudent(), 4)
	prog, err := r.Prepare(mustPlan(t, planRouted))
	if err != nil {
		t.Fatal(err)
	}
	res, err := prog.RunForced(context.Background(), map[string]any{"question": "plain"}, map[string]string{"route": "doubled"})
	if err != nil || fmt.Sprint(res.Output) != "42" || !res.Trace.Nodes[1].Route.Forced || !strings.Contains(res.Trace.Nodes[1].Route.Reason, `classifier said "plain"`) {
		t.Fatalf("forced run: %v %v %+v", res.Output, err, res.Trace.Nodes[1].Route)
	}
	if _, err := prog.RunForced(context.Background(), map[string]any{"question": "plain"}, map[string]string{"route": "nope"}); runtime.KindOf(err) != runtime.KindPlan {
		t.Fatalf("unknown forced branch: err %v", err)
	}
}

// TestRouterConsensusClassifier: a router can read a consensus over an llm classifier (the
// shape a route edit with "n" builds); the vote's value picks the branch.
func TestRouterConsensusClassifier(t *testing.T) {
	src := strings.Replace(planRouted, `  - id: route
    substrate: router
    router:
      on: kind`, `  - id: kind_vote
    substrate: consensus
    consensus:
      members: [kind]
      over: kind
      n: 3
      perturbations: {temperatures: [0.7], seeds: [1, 2, 3]}
      vote: {method: plurality, tie_break: first, normalize: text}
  - id: route
    substrate: router
    router:
      on: kind_vote`, 1)
	r := newRunner(t, routedStudent(), 4)
	prog, err := r.Prepare(mustPlan(t, src))
	if err != nil {
		t.Fatal(err)
	}
	res, err := prog.Run(context.Background(), map[string]any{"question": "double it"})
	if err != nil || fmt.Sprint(res.Output) != "42" || res.Trace.Calls != 4 {
		t.Fatalf("output %v, calls %d, err %v; want 42 from the doubled branch after 3 classifier votes", res.Output, res.Trace.Calls, err)
	}
}

// TestRouteCheckResumeMismatch: the results header records whether a plan with routers was
// evaluated with the routing check, and a resume with the other setting is refused instead of
// mixing checked and unchecked items; the same setting resumes.
func TestRouteCheckResumeMismatch(t *testing.T) {
	r := newRunner(t, routedStudent(), 4)
	prog, err := r.Prepare(mustPlan(t, planRouted))
	if err != nil {
		t.Fatal(err)
	}
	items := []runtime.Item{
		{ID: "a", Inputs: map[string]any{"question": "plain"}, Label: json.Number("21")},
		{ID: "b", Inputs: map[string]any{"question": "plain"}, Label: json.Number("99")},
	}
	m := metric.Numeric{RelTol: metric.DefaultRelTol}
	for _, tc := range []struct {
		name        string
		first, then bool // route check on in the first eval, in the resumed one
	}{{"on then off", true, false}, {"off then on", false, true}, {"on then on", true, true}, {"off then off", false, false}} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "r.jsonl")
			opts := func(check, resume bool) runtime.EvalOptions {
				o := runtime.EvalOptions{ResultsPath: path, Resume: resume, Concurrency: 1}
				if check {
					o.Routes = prog.RouteCheck()
				}
				return o
			}
			if _, err := runtime.Eval(context.Background(), prog, items[:1], m, opts(tc.first, false)); err != nil {
				t.Fatal(err)
			}
			_, err := runtime.Eval(context.Background(), prog, items, m, opts(tc.then, true))
			if tc.first == tc.then {
				if err != nil {
					t.Fatalf("resume with the same route check: %v", err)
				}
				return
			}
			if !errors.Is(err, runtime.ErrProvenance) || !strings.Contains(err.Error(), runtime.SettingRouteCheck) {
				t.Fatalf("resume with the route check switched: %v, want ErrProvenance naming %s", err, runtime.SettingRouteCheck)
			}
		})
	}
}
