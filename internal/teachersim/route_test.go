package teachersim

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/sgde-project/sgde/compiler/edit"
	"github.com/sgde-project/sgde/compiler/teacher"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/llm"
	"github.com/sgde-project/sgde/sandbox"
	"github.com/sgde-project/sgde/wasm"
)

// mixedInput is the evidence of a candidate that helped the helped records and hurt the hurt
// ones (as the compiler shows it: plan inputs and labels, no family).
func mixedInput(t *testing.T, p *plans.Plan, helped, hurt []record, cand edit.Edit) teacher.Input {
	in := input(t, p, append(append([]record(nil), helped[:3]...), hurt[:3]...))
	m := &teacher.Mixed{Rationale: "compute it", Edits: []edit.Edit{cand}}
	for i, r := range helped {
		m.Helped = append(m.Helped, teacher.Example{Item: "h" + string(rune('a'+i)), Inputs: map[string]any{"question": r.Input}, Expected: r.Target})
	}
	for i, r := range hurt {
		m.Hurt = append(m.Hurt, teacher.Example{Item: "x" + string(rune('a'+i)), Inputs: map[string]any{"question": r.Input}, Expected: r.Target})
	}
	in.Mixed = m
	return in
}

// TestRouteFromMixedEvidence: shown that an edit helped one kind of question and hurt another,
// the simulated teacher proposes, over HTTP through the compiler's LLM teacher, a route edit
// whose code classifier separates the two kinds (also on the items it was not shown), with the
// edit in one branch only; the edit parses and applies. Without the evidence, or with route not
// allowed, it proposes no route.
func TestRouteFromMixedEvidence(t *testing.T) {
	p := zeroShot(t)
	helpedAll, hurtAll := readFamily(t, familyFiles["navigation"]), readFamily(t, familyFiles["truthfulness"])
	cand := edit.Edit{Action: edit.RefinePrompt, Node: "answer", Prompt: "Think step by step. {{ inputs.question }}"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := Start(ctx, "127.0.0.1:0", NewConfig().WithStyles(StyleFence))
	if err != nil {
		t.Fatal(err)
	}
	cl, err := llm.New(llm.NewConfig(srv.URL(), srv.Model()))
	if err != nil {
		t.Fatal(err)
	}
	tch := teacher.NewLLM(cl, srv.Model(), 0)
	in := mixedInput(t, p, helpedAll[:12], hurtAll[:12], cand)
	prop, err := tch.Propose(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(prop.Candidates) != 1 || len(prop.Problems) != 0 {
		t.Fatalf("candidates %+v, problems %q", prop.Candidates, prop.Problems)
	}
	e := prop.Candidates[0].Edits[0]
	if e.Action != edit.Route || e.Classifier == nil || e.Classifier.Substrate != plans.SubstrateCode || len(e.Branches) != 2 ||
		e.Branches[0].Name != "edited" || len(e.Branches[0].Edits) != 1 || e.Branches[0].Edits[0].Prompt != cand.Prompt || len(e.Branches[1].Edits) != 0 {
		t.Fatalf("edit %s: %+v", e.Summary(), e)
	}
	q, err := edit.Apply(p, e)
	if err != nil {
		t.Fatal(err)
	}
	if r := q.Node("route"); r == nil || r.Router.Branch("edited").SubPlan().Nodes[0].LLM.Prompt != cand.Prompt {
		t.Fatalf("routed plan %+v", q.Nodes)
	}
	if d := srv.Decisions(); d[0].Family != "route" {
		t.Errorf("decision %+v", d[0])
	}
	// The rule the teacher learned from the 24 shown items, on every item of both kinds.
	m := &mixedEvidence{}
	for _, r := range helpedAll[:12] {
		m.helped = append(m.helped, map[string]any{"question": r.Input})
	}
	for _, r := range hurtAll[:12] {
		m.hurt = append(m.hurt, map[string]any{"question": r.Input})
	}
	ru, ok := learnRule(m)
	if !ok || !strings.Contains(e.Classifier.Source, ru.source()[strings.Index(ru.source(), "if "):]) {
		t.Fatalf("rule %v (ok %v) is not the one in the reply:\n%s", ru, ok, e.Classifier.Source)
	}
	right, n := 0, 0
	for side, recs := range map[string][]record{"edited": helpedAll, "kept": hurtAll} {
		for _, r := range recs {
			n++
			if ru.branch(r.Input) == side {
				right++
			}
		}
	}
	if float64(right) < 0.95*float64(n) {
		t.Errorf("rule %v routes %d of %d items to their side", ru, right, n)
	}

	// No route when it is not allowed, or without mixed evidence.
	in.Allowed = []edit.Action{edit.Offload, edit.RefinePrompt}
	if prop, err := tch.Propose(ctx, in); err != nil || len(prop.Candidates) > 0 && prop.Candidates[0].Edits[0].Action == edit.Route {
		t.Errorf("route proposed though not allowed: %+v %v", prop.Candidates, err)
	}
	in.Allowed, in.Mixed = nil, nil
	if prop, err := tch.Propose(ctx, in); err != nil || len(prop.Candidates) > 0 && prop.Candidates[0].Edits[0].Action == edit.Route {
		t.Errorf("route proposed without mixed evidence: %+v %v", prop.Candidates, err)
	}
}

// TestLearnRuleNeedsASeparation: items of one kind on both sides give no rule.
func TestLearnRuleNeedsASeparation(t *testing.T) {
	recs := readFamily(t, familyFiles["sorting"])
	m := &mixedEvidence{}
	for i, r := range recs[:20] {
		if i%2 == 0 {
			m.helped = append(m.helped, map[string]any{"question": r.Input})
		} else {
			m.hurt = append(m.hurt, map[string]any{"question": r.Input})
		}
	}
	if ru, ok := learnRule(m); ok {
		t.Errorf("learned %v from items of one kind split at random", ru)
	}
}

// TestRouteClassifierInSandbox builds the classifiers the teacher writes (a digit test and a
// word test) to WebAssembly and checks that, in the sandbox, they route every item of both
// kinds exactly as the rule does natively; the build fault's classifier does not build.
func TestRouteClassifierInSandbox(t *testing.T) {
	if os.Getenv("SGDE_TEST_LONG") == "" {
		t.Skip("long (builds three classifiers to WebAssembly): make test-long")
	}
	ctx := context.Background()
	eng, err := sandbox.New(ctx, plans.EngineWazero, sandbox.WithMetering(sandbox.MeterWallClock))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	b, err := wasm.NewBuilder()
	if err != nil {
		t.Fatal(err)
	}
	r, err := runtime.New(runtime.Options{Engine: eng, Builder: b})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(ctx)
	classifierPlan := func(src string) *plans.Plan {
		p := &plans.Plan{APIVersion: "sgde/v1", Kind: "Plan", Metadata: plans.Metadata{Name: "classify"},
			Inputs: []plans.Input{{Name: "question", Type: plans.TypeString}}, Output: "classify.branch",
			Nodes: []plans.Node{{ID: "classify", Substrate: plans.SubstrateCode, Code: &plans.CodeNode{
				Source: src, Inputs: map[string]string{"text": "inputs.question"}, Outputs: map[string]plans.Type{"branch": plans.TypeString}}}}}
		if err := p.Validate(); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, pair := range [][2]string{{"navigation", "truthfulness"}, {"sorting", "boolean"}} {
		helped, hurt := readFamily(t, familyFiles[pair[0]]), readFamily(t, familyFiles[pair[1]])
		m := &mixedEvidence{}
		for _, rec := range helped[:12] {
			m.helped = append(m.helped, map[string]any{"question": rec.Input})
		}
		for _, rec := range hurt[:12] {
			m.hurt = append(m.hurt, map[string]any{"question": rec.Input})
		}
		ru, ok := learnRule(m)
		if !ok {
			t.Fatalf("%v: no rule", pair)
		}
		p := classifierPlan(ru.source())
		for _, rec := range append(append([]record(nil), helped...), hurt...) {
			res, err := r.Run(ctx, p, map[string]any{"question": rec.Input})
			if err != nil || res.Output != ru.branch(rec.Input) {
				t.Fatalf("%v rule %v: sandbox says %v (%v), native %s on %q", pair, ru, res.Output, err, ru.branch(rec.Input), rec.Input)
			}
		}
		t.Logf("%v: %v agrees in the sandbox on %d items", pair, ru, len(helped)+len(hurt))
	}
	a, ok := routeAnswer(request{mixed: &mixedEvidence{edits: []byte(`[{"action":"refine_prompt","node":"answer","prompt":"x"}]`),
		helped: []map[string]any{{"question": "a 1"}, {"question": "b 2"}}, hurt: []map[string]any{{"question": "c"}, {"question": "d"}}}}, FaultBuild)
	if !ok {
		t.Fatal("no route answer")
	}
	src := a.cands[0]["edits"].([]any)[0].(map[string]any)["classifier"].(map[string]any)["source"].(string)
	if _, err := r.Run(ctx, classifierPlan(src), map[string]any{"question": "q"}); runtime.KindOf(err) != runtime.KindBuild {
		t.Errorf("the build fault's classifier: err %v, want a build error", err)
	}
}
