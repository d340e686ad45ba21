package compiler

import (
	"strings"
	"testing"

	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
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
	r, err := routedPlan(inc, cand, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Routers()) != 1 || r.Node("classify").Code == nil {
		t.Fatalf("routed plan %+v", r.Nodes)
	}
	src := r.Node("classify").Code.Source
	if !strings.Contains(src, `strings.Contains(text, "(A)")`) || !strings.Contains(src, `"branch": "incumbent"`) {
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
	rc := routerCheck(routed, res(true, false, true), res(false, true, true))
	if rc.routable != 2 || rc.misrouted != 1 || rc.accuracy() != 0.5 {
		t.Errorf("router check %+v", rc)
	}
}
