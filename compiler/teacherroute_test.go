package compiler

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sgde-project/sgde/compiler/teacher"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/metric"
	"github.com/sgde-project/sgde/runtime/trace"
)

// llmRouteRunner runs the plans of mixedItems: a router whose classifier is an llm node asking
// "Kind?" (it answers "calc" for questions without options, except those whose id number ends in
// 6: the group it sends to the wrong branch), and modeRunner for everything else.
type llmRouteRunner struct{ modeRunner }

func (k llmRouteRunner) Run(ctx context.Context, p *plans.Plan, in map[string]any) (*runtime.RunResult, error) {
	return k.RunForced(ctx, p, in, nil)
}

func (k llmRouteRunner) RunForced(ctx context.Context, p *plans.Plan, in map[string]any, force map[string]string) (*runtime.RunResult, error) {
	rs := p.Routers()
	if len(rs) != 1 || p.Node(rs[0].Router.On) == nil || p.Node(rs[0].Router.On).LLM == nil {
		return k.modeRunner.Run(ctx, p, in)
	}
	q := in["question"].(string)
	kind := "plain"
	if !strings.Contains(q, "Options:") && !strings.Contains(q, "6 how") {
		kind = "calc"
	}
	r := rs[0].Router
	branch := r.Choose(kind).Branch
	if b, ok := force[rs[0].ID]; ok {
		branch = b
	}
	sub, err := k.modeRunner.Run(ctx, r.Branch(branch).SubPlan(), in)
	if err != nil {
		return nil, err
	}
	tr := &trace.Run{Output: sub.Output, Calls: sub.Trace.Calls + 1, Inputs: in, Nodes: []*trace.Node{{ID: rs[0].Router.On, Substrate: "llm", Value: kind},
		{ID: rs[0].ID, Substrate: "router", Route: &trace.Route{On: r.On, Classified: kind, Branch: branch, Run: sub.Trace}}}}
	return &runtime.RunResult{Output: sub.Output, Trace: tr}, nil
}

// routeReply is an LLM teacher's reply proposing a route with an llm classifier: the calc
// prompt for the word problems, the plain prompt kept for the multiple-choice questions.
const routeReply = "```json\n" + `{"critique": {"answer": "calc helps word problems only"}, "candidates": [{"rationale": "split", "edits": [{"action": "route",
  "classifier": {"substrate": "llm", "prompt": "Kind? calc or plain: {{ inputs.question }}"},
  "branches": [{"name": "calc", "edits": [{"action": "refine_prompt", "node": "answer", "prompt": "mode=calc {{ inputs.question }}"}]},
               {"name": "plain", "edits": []}],
  "default": "plain"}]}]}` + "\n```"

// TestCompileTeacherRoute: an LLM teacher's route edit becomes a routed candidate evaluated on
// the held-out items like any other, with its routing checked (the misrouted word problems
// whose id ends in 6 are logged), and it is accepted when the held-out risk drops; with routers off it
// is rejected unevaluated.
func TestCompileTeacherRoute(t *testing.T) {
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
		cfg := Config{Initial: initial, Train: mixedItems(40, 0), Heldout: mixedItems(80, 1000), Metric: metric.Exact{},
			Teacher: teacher.NewLLM(&scriptedTeacher{replies: []string{routeReply}}, "scripted", 0), Runner: llmRouteRunner{}, Dir: t.TempDir(),
			K: 3, Iterations: 1, Patience: 5, RoutersOff: off}
		res, err := Compile(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		evs, _ := ReadLog(cfg.Dir)
		var cand *Event
		for i := range evs {
			if evs[i].Kind == EventCandidate && evs[i].Candidate == 1 {
				cand = &evs[i]
			}
		}
		if cand == nil {
			t.Fatalf("no candidate event in %+v", evs)
		}
		if off {
			if *cand.Accepted || !strings.Contains(cand.Reason, "routers are disabled") || len(res.Plan.Routers()) != 0 {
				t.Errorf("routers off: %+v", cand)
			}
			continue
		}
		// Held-out ids 1000..1079: the 8 word problems 1006, 1016, ..., 1076 are misrouted.
		misrouted := 8
		if !*cand.Accepted || cand.RouterAccuracy == nil || cand.Misrouted != misrouted || len(res.Plan.Routers()) != 1 {
			t.Fatalf("route candidate: accepted %v, router accuracy %v, misrouted %d (want %d): %s", *cand.Accepted, cand.RouterAccuracy, cand.Misrouted, misrouted, cand.Reason)
		}
		if want := 1 - float64(misrouted)/80; fmt.Sprintf("%.4f", *cand.RouterAccuracy) != fmt.Sprintf("%.4f", want) {
			t.Errorf("router accuracy %v, want %v", *cand.RouterAccuracy, want)
		}
		// The accepted router's check is kept in the state like a learned split's, so the PAC
		// router section bounds its misrouting (all 80 held-out items checked: the right ones
		// for free, the wrong ones with both branches run).
		if rc := res.State.Router; rc == nil || rc.Checked != 80 || rc.Routable != 0 || rc.Misrouted != misrouted ||
			!strings.HasPrefix(rc.Line(), "router accuracy 90.0% (8 misrouted of 80 checked") {
			t.Errorf("state router check %+v, want 8 misrouted of 80 checked", rc)
		}
		if res.Routed == nil || len(res.Routed.Router) != 1 || res.Routed.Router[0].HeldoutN != 80 || res.Routed.Router[0].Misrouted != misrouted {
			t.Errorf("PAC router section %+v, want one router bound over 80 held-out items, 8 misrouted", res.Routed)
		}
		// Each branch was compiled as its own plan on the items the classifier sent it: of the
		// 20 training and 40 held-out word problems, 4 and 8 went to plain.
		want := map[string][2]int{"calc": {16, 32}, "plain": {24, 48}}
		if len(res.Partitions) != 2 || len(cand.Partitions) != 2 {
			t.Fatalf("partitions: result %+v, event %+v", res.Partitions, cand.Partitions)
		}
		for _, p := range res.Partitions {
			if w := want[p.Branch]; !p.Compiled || p.TrainN != w[0] || p.HeldN != w[1] || !strings.Contains(p.Rule, "classifier") {
				t.Errorf("partition %+v, want compiled with %v items", p, w)
			}
			if _, err := os.Stat(filepath.Join(cfg.Dir, p.Dir, FileLog)); err != nil {
				t.Errorf("partition %s has no compile log: %v", p.Branch, err)
			}
		}
	}
}

// TestJudgeCodeClassifier: a fresh classifier that runs cleanly passes the plan probe even when
// the plan is mostly wrong (that is the branches' doing); the same node as an answer node fails.
func TestJudgeCodeClassifier(t *testing.T) {
	var s Scores
	for i := range 4 {
		s.Results = append(s.Results, runtime.ItemResult{ID: fmt.Sprint(i), Correct: i == 0})
		s.Traces = append(s.Traces, &trace.Run{Nodes: []*trace.Node{{ID: "classify", Substrate: "code"}, {ID: "route", Substrate: "router"}}})
	}
	c := &compiler{}
	fresh := map[string]bool{"classify": true}
	if why := c.judgeCode(s, fresh, 4, map[string]bool{"classify": true}, nil); why != "" {
		t.Errorf("classifier rejected: %s", why)
	}
	if why := c.judgeCode(s, fresh, 4, nil, nil); !strings.Contains(why, "fails its tests") {
		t.Errorf("answer node accepted: %q", why)
	}
	p, err := plans.Parse([]byte(kindRouted), "kinds.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := routerClassifiers(p); len(got) != 1 || !got["kind"] {
		t.Errorf("routerClassifiers = %v", got)
	}
}

// TestProbeBranchCode: a route edit's new code inside a branch is fresh, is judged in the plan
// probe where it ran (a limit hit inside the branch rejects it), and is not rejected for never
// running on probe items the classifier sent elsewhere.
func TestProbeBranchCode(t *testing.T) {
	inc, err := plans.Parse([]byte(`apiVersion: sgde/v1
kind: Plan
metadata: {name: one}
inputs: [{name: question, type: string}]
output: answer
nodes:
  - {id: answer, substrate: llm, llm: {prompt: "{{ inputs.question }}", parser: {type: number}}}
`), "one.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cand := &plans.Plan{}
	*cand = *inc
	sub := *inc
	sub.Nodes = append([]plans.Node{{ID: "answer", Substrate: plans.SubstrateLLM, LLM: &plans.LLMNode{Prompt: "{{ inputs.question }}", Parser: plans.Parser{Type: plans.ParserCode}}}},
		plans.Node{ID: "answer_eval", Substrate: plans.SubstrateCode, Code: &plans.CodeNode{Source: "package main\n", Inputs: map[string]string{"p": "answer"}, Outputs: map[string]plans.Type{"v": plans.TypeNumber}}})
	sub.Output = "answer_eval.v"
	cand.Output = "route"
	cand.Nodes = []plans.Node{{ID: "kind", Substrate: plans.SubstrateLLM, LLM: &plans.LLMNode{Prompt: "{{ inputs.question }}", Parser: plans.Parser{Type: plans.ParserText}}},
		{ID: "route", Substrate: plans.SubstrateRouter, Router: &plans.RouterNode{On: "kind", Default: "kept", Branches: []plans.Branch{
			{Name: "pal", Inputs: map[string]string{"question": "inputs.question"}, Plan: &sub},
			{Name: "kept", Inputs: map[string]string{"question": "inputs.question"}, Plan: inc}}}}}
	if err := cand.Validate(); err != nil {
		t.Fatal(err)
	}
	fresh := freshCode(inc, cand)
	if len(fresh) != 1 || !fresh["answer_eval"] {
		t.Fatalf("fresh = %v, want the branch's code node", fresh)
	}
	run := func(branch string, inner *trace.Node) *trace.Run {
		return &trace.Run{Nodes: []*trace.Node{{ID: "kind", Substrate: "llm"},
			{ID: "route", Substrate: "router", Route: &trace.Route{Branch: branch, Run: &trace.Run{Nodes: []*trace.Node{inner}}}}}}
	}
	c := &compiler{}
	inBranch := map[string]bool{"answer_eval": true}
	elsewhere := Scores{Results: []runtime.ItemResult{{ID: "a", Correct: true}}, Traces: []*trace.Run{run("kept", &trace.Node{ID: "answer", Substrate: "llm"})}}
	if why := c.judgeCode(elsewhere, fresh, 1, nil, inBranch); why != "" {
		t.Errorf("branch code not routed to on the probe items rejected: %s", why)
	}
	if why := c.judgeCode(elsewhere, fresh, 1, nil, nil); !strings.Contains(why, "could not be tested") {
		t.Errorf("a top-level node that never ran passed: %q", why)
	}
	hit := Scores{Results: []runtime.ItemResult{{ID: "b"}}, Traces: []*trace.Run{run("pal", &trace.Node{ID: "answer_eval", Substrate: "code", ErrorKind: "code_fuel_exhausted", Error: "fuel"})}}
	if why := c.judgeCode(hit, fresh, 1, nil, inBranch); !strings.Contains(why, "answer_eval hit a limit") {
		t.Errorf("a limit hit inside a branch passed: %q", why)
	}
}
