package compiler

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/metric"
	"github.com/sgde-project/sgde/runtime/trace"
)

func TestLearnSplit(t *testing.T) {
	q := func(id, text string) runtime.Item {
		return runtime.Item{ID: id, Inputs: map[string]any{"question": text}}
	}
	items := []runtime.Item{
		q("date/1", "When is it?\nOptions:\n(A) 01/02/2003\n(B) 02/02/2003"),
		q("date/2", "Which day?\nOptions:\n(A) 03/04/2005\n(B) 02/02/2005"),
		q("date/3", "Tomorrow?\nOptions:\n(A) 05/06/2007\n(B) 09/09/2009"),
		q("gsm/1", "Tom has 3 apples and buys 4 more. How many apples?"),
		q("gsm/2", "A train goes 60 miles in 2 hours. How fast is it?"),
		q("gsm/3", "Ann reads 12 pages a day for 5 days. How many pages?"),
		q("gsm/4", "Both plans get this one right."),
	}
	// The edit helps the multiple-choice items and hurts the word problems; the last item is
	// concordant and must not count. Twice over: a rule needs 10 discordant items.
	items = append(items, items...)
	cand := []bool{true, true, true, false, false, false, true, true, true, true, false, false, false, true}
	inc := []bool{false, false, false, true, true, true, true, false, false, false, true, true, true, true}
	s, ok := learnSplit(items, "question", cand, inc)
	if !ok || s.acc != 1 || s.n != 12 || !s.edited {
		t.Fatalf("split = %+v, ok %v", s, ok)
	}
	if strings.Contains(s.token, "date") || strings.Contains(s.token, "gsm") {
		t.Fatalf("the split used the item ids (family labels): %+v", s)
	}
	for i, it := range items[:6] {
		if got := strings.Contains(it.Inputs["question"].(string), s.token); got != cand[i] {
			t.Errorf("item %s: token %q present %v, want %v", it.ID, s.token, got, cand[i])
		}
	}
	// Too few discordant items: a word separates them by chance, and that is not enough.
	if s, ok := learnSplit(items[:6:6], "question", []bool{true, false, false, true, true, false}, []bool{false, true, true, false, false, true}); ok {
		t.Errorf("a split on alternating outcomes: %+v", s)
	}
}

func TestRoutedPlanAndRouterCheck(t *testing.T) {
	inc, err := plans.Load("../testdata/plans/gsm-hard-zero-shot.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cand, err := plans.Load("../testdata/plans/gsm-hard-compiled.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := split{field: "question", token: "(A)", edited: false, acc: 0.9, n: 10}
	r, err := routedPlan(inc, s.list(), map[string]*plans.Plan{branchEdited: cand, branchIncumbent: inc}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Routers()) != 1 || r.Node("classify").Code == nil {
		t.Fatalf("routed plan %+v", r.Nodes)
	}
	src := r.Node("classify").Code.Source
	if !strings.Contains(src, `{"(A)", "incumbent"},`) || !strings.Contains(src, `const fallback = "edited"`) {
		t.Errorf("classifier source:\n%s", src)
	}
	if _, err := plans.Digest(r); err != nil {
		t.Fatalf("digest: %v", err)
	}
	// Held-out: item 0 only the candidate gets right, item 1 only the incumbent, item 2 both.
	res := func(b ...bool) Scores {
		s := Scores{}
		for _, x := range b {
			s.Results = append(s.Results, runtime.ItemResult{Correct: x})
		}
		return s
	}
	routed := res(false, true, true)
	for _, br := range []string{branchIncumbent, branchIncumbent, branchEdited} {
		routed.Traces = append(routed.Traces, &trace.Run{Nodes: []*trace.Node{{ID: "classify"}, {ID: "route", Route: &trace.Route{Branch: br}}}})
	}
	rc := routerCheck(routed, map[string][]bool{branchEdited: {true, false, true}, branchIncumbent: {false, true, true}})
	if rc.Routable != 2 || rc.Misrouted != 1 || rc.Accuracy() != 0.5 {
		t.Errorf("router check %+v", rc)
	}
}

// modeRunner is a fake student for routing: a plan whose prompt says "mode=calc" is right on
// questions without "Options:", one that says "mode=plain" on questions with it. A routed plan
// is run by reading its classifier's rule from the generated source (the sandbox is not needed
// to test the compiler's logic; route_test in cmd/sgde and the runtime tests run real routers).
type modeRunner struct{}

func (m modeRunner) Run(ctx context.Context, p *plans.Plan, in map[string]any) (*runtime.RunResult, error) {
	q := in["question"].(string)
	if r := p.Routers(); len(r) == 1 {
		src := p.Node("classify").Code.Source
		branch, err := fakeClassify(src, q)
		if err != nil {
			return nil, err
		}
		sub, err := m.Run(ctx, r[0].Router.Branch(branch).SubPlan(), in)
		if err != nil {
			return nil, err
		}
		tr := &trace.Run{Output: sub.Output, Calls: sub.Trace.Calls, Inputs: in, Nodes: []*trace.Node{{ID: "classify", Substrate: "code"},
			{ID: "route", Substrate: "router", Route: &trace.Route{Branch: branch, Run: sub.Trace}}}}
		return &runtime.RunResult{Output: sub.Output, Trace: tr}, nil
	}
	prompt := p.Nodes[0].LLM.Prompt
	choice := strings.Contains(q, "Options:")
	right := (strings.Contains(prompt, "mode=calc") && !choice) || (strings.Contains(prompt, "mode=plain") && choice)
	label, _ := strconv.Atoi(strings.Fields(strings.TrimPrefix(q, "q"))[0])
	out := any(-1)
	if right {
		out = label
	}
	raw := fmt.Sprint(out)
	tr := &trace.Run{Output: out, Calls: 1, Inputs: in, Nodes: []*trace.Node{{ID: p.Nodes[0].ID, Substrate: "llm", Attempts: 1, Raw: &raw, Value: out,
		Prompt: []trace.Message{{Role: "user", Content: q}}}}}
	return &runtime.RunResult{Output: out, Trace: tr}, nil
}

// fakeClassify applies a compiler-written classifier's rules to q.
func fakeClassify(src, q string) (string, error) { return ClassifierBranch(src, q) }

func mixedItems(n, offset int) []runtime.Item {
	items := make([]runtime.Item, n)
	for i := range items {
		id := offset + i
		q := fmt.Sprintf("q%d how many?", id)
		if i%2 == 1 {
			q = fmt.Sprintf("q%d which one?\nOptions:\n(A) x\n(B) y", id)
		}
		items[i] = runtime.Item{ID: strconv.Itoa(id), Inputs: map[string]any{"question": q}, Label: id}
	}
	return items
}

// TestCompileRoutes: an edit that helps one half of a mixture and hurts the other is rejected
// as a whole, and the compiler routes between it and the incumbent instead; with routers off,
// the monolithic compile keeps the incumbent.
func TestCompileRoutes(t *testing.T) {
	for _, off := range []bool{false, true} {
		initial, err := plans.Parse([]byte(`apiVersion: sgde/v1
kind: Plan
metadata: {name: mixed}
inputs: [{name: question, type: string}]
output: answer
nodes:
  - id: answer
    substrate: llm
    llm: {prompt: "mode=plain {{ inputs.question }}", parser: {type: number}}
`), "mixed.yaml")
		if err != nil {
			t.Fatal(err)
		}
		cfg := Config{Initial: initial, Train: mixedItems(60, 0), Heldout: mixedItems(80, 1000), Metric: metric.Exact{},
			Teacher: &scripted{rounds: [][]string{{"mode=calc"}, {"mode=calc again"}}}, Runner: modeRunner{}, Dir: t.TempDir(),
			K: 3, Iterations: 2, Patience: 5, RoutersOff: off}
		res, err := Compile(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		evs, _ := ReadLog(cfg.Dir)
		var routed *Event
		for i := range evs {
			if evs[i].RoutableAccuracy != nil {
				routed = &evs[i]
			}
		}
		if off {
			if routed != nil || len(res.Plan.Routers()) != 0 {
				t.Errorf("routers off, yet a router was tried: %+v", routed)
			}
			continue
		}
		if routed == nil || routed.Accepted == nil || !*routed.Accepted || *routed.RoutableAccuracy != 1 || routed.Misrouted != 0 || routed.RouterAccuracy != nil {
			t.Fatalf("routed candidate event = %+v", routed)
		}
		// A learned split's figure is the routable accuracy, never printed as router accuracy
		// (the name of `sgde eval`'s 1 - misrouted/checked).
		if !strings.Contains(routed.Reason, "routable accuracy 100.0% (0 misrouted of 80 routable held-out items") || strings.Contains(routed.Reason, "router accuracy") {
			t.Errorf("routed candidate reason: %s", routed.Reason)
		}
		if rc := res.State.Router; rc == nil || rc.Checked != 0 || !strings.HasPrefix(rc.Line(), "routable accuracy 100.0%") {
			t.Errorf("state router check %+v", rc)
		}
		if rt := res.Routed; rt == nil || len(rt.Branches) != 2 || rt.Branches[0].TrainN+rt.Branches[1].TrainN != 60 || len(rt.Router) != 1 || rt.Router[0].Misrouted != 0 || rt.Router[0].HeldoutN != 80 {
			t.Errorf("routed PAC section = %+v", res.Routed)
		}
		if len(res.Plan.Routers()) != 1 || res.Heldout.Risk() != 0 || res.StopReason != "a routed plan was accepted" {
			t.Errorf("final plan routers %d, held-out risk %v, stop %q", len(res.Plan.Routers()), res.Heldout.Risk(), res.StopReason)
		}

	}
}
