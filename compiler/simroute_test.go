package compiler

import (
	"context"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sgde-project/sgde/compiler/teacher"
	"github.com/sgde-project/sgde/internal/teachersim"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/llm"
	"github.com/sgde-project/sgde/runtime/metric"
	"github.com/sgde-project/sgde/runtime/trace"
)

// digitItems are n questions of random words, every other one with a number in it; no word
// recurs often enough for the compiler's one-word rule, but "has a digit" separates them. The
// item's label is its number; the question names it in letters (no digits) after "id".
func digitItems(n, offset int) []runtime.Item {
	rng := rand.New(rand.NewPCG(uint64(offset), 7))
	word := func() string {
		b := make([]byte, 5+rng.IntN(4))
		for i := range b {
			b[i] = byte('a' + rng.IntN(26))
		}
		return string(b)
	}
	items := make([]runtime.Item, n)
	for i := range items {
		id := offset + i
		ws := []string{"id", letters(id), word(), word(), word()}
		if i%2 == 0 {
			ws = append(ws, strconv.Itoa(3+rng.IntN(90)), word())
		}
		items[i] = runtime.Item{ID: strconv.Itoa(id), Inputs: map[string]any{"question": strings.Join(ws, " ")}, Label: id}
	}
	return items
}

func letters(n int) string {
	s := ""
	for {
		s = string(rune('a'+n%26)) + s
		n /= 26
		if n == 0 {
			return s
		}
	}
}

func unletters(s string) int {
	n := 0
	for _, r := range s {
		n = n*26 + int(r-'a')
	}
	return n
}

// digitRunner stands in for the student: an llm answer node is right on questions without a
// digit, a program-aided chain (an llm node feeding a code node) on those with one. A router's
// code classifier is read from its source (the teacher's "contains a digit" test) and its branch
// run the same way.
type digitRunner struct{}

var branchLitRE = regexp.MustCompile(`"branch": ("[^"]*")`)

func (d digitRunner) Run(ctx context.Context, p *plans.Plan, in map[string]any) (*runtime.RunResult, error) {
	return d.RunForced(ctx, p, in, nil)
}

func (d digitRunner) RunForced(ctx context.Context, p *plans.Plan, in map[string]any, force map[string]string) (*runtime.RunResult, error) {
	q := in["question"].(string)
	digit := strings.ContainsAny(q, "0123456789")
	if rs := p.Routers(); len(rs) == 1 {
		r := rs[0]
		cl := p.Node("classify")
		if cl == nil || cl.Code == nil || !strings.Contains(cl.Code.Source, `strings.ContainsAny(text, "0123456789")`) {
			return nil, fmt.Errorf("classifier not understood")
		}
		bs := branchLitRE.FindAllStringSubmatch(cl.Code.Source, -1)
		yes, _ := strconv.Unquote(bs[0][1])
		no, _ := strconv.Unquote(bs[1][1])
		branch := no
		if digit {
			branch = yes
		}
		if b, ok := force[r.ID]; ok {
			branch = b
		}
		sub, err := d.Run(ctx, r.Router.Branch(branch).SubPlan(), in)
		if err != nil {
			return sub, err
		}
		tr := &trace.Run{Output: sub.Output, Calls: sub.Trace.Calls, Inputs: in, Nodes: []*trace.Node{{ID: "classify", Substrate: "code", Value: map[string]any{"branch": branch}},
			{ID: r.ID, Substrate: "router", Route: &trace.Route{On: r.Router.On, Branch: branch, Run: sub.Trace}}}}
		return &runtime.RunResult{Output: sub.Output, Trace: tr}, nil
	}
	program := len(p.Nodes) == 2 && p.Nodes[1].Code != nil
	right := program == digit
	f := strings.Fields(q)
	out := any(-1)
	if right {
		out = unletters(f[1])
	}
	raw := fmt.Sprint(out)
	prompt := strings.ReplaceAll(p.Nodes[0].LLM.Prompt, "{{ inputs.question }}", q)
	nodes := []*trace.Node{{ID: p.Nodes[0].ID, Substrate: "llm", Attempts: 1, Raw: &raw, Value: out, Prompt: []trace.Message{{Role: "user", Content: prompt}}}}
	if program {
		nodes = append(nodes, &trace.Node{ID: p.Nodes[1].ID, Substrate: "code", Value: map[string]any{"answer": out}})
	}
	return &runtime.RunResult{Output: out, Trace: &trace.Run{Output: out, Calls: 1, Inputs: in, Nodes: nodes}}, nil
}

// TestSimTeacherRoutes: compiled over HTTP with the simulated frontier teacher, a mixture where
// a program helps the questions with numbers and hurts the others: the teacher's offload is
// rejected (it wins and loses), the compiler finds no one-word rule, the teacher is shown the
// items the offload helped and hurt and proposes a route with a Go classifier (a digit test it
// learned from those inputs), each branch is compiled on its partition, and the routed plan is
// accepted with the offload in one branch only.
func TestSimTeacherRoutes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := teachersim.Start(ctx, "127.0.0.1:0", teachersim.NewConfig().WithSeed(3).WithStyles(teachersim.StyleFence))
	if err != nil {
		t.Fatal(err)
	}
	cl, err := llm.New(llm.NewConfig(srv.URL(), srv.Model()))
	if err != nil {
		t.Fatal(err)
	}
	initial, err := plans.Parse([]byte(`apiVersion: sgde/v1
kind: Plan
metadata: {name: digits}
inputs: [{name: question, type: string}]
output: answer
nodes:
  - id: answer
    substrate: llm
    llm: {prompt: "Answer: {{ inputs.question }}", parser: {type: number}}
`), "digits.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Initial: initial, Train: digitItems(40, 0), Heldout: digitItems(40, 1000), Metric: metric.Exact{},
		Teacher: teacher.NewLLM(cl, srv.Model(), 0), Runner: digitRunner{}, Dir: t.TempDir(),
		K: 2, Iterations: 3, Patience: 3, NodeProbesOff: true}
	res, err := Compile(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	evs, _ := ReadLog(cfg.Dir)
	var log strings.Builder
	var route *Event
	for i, ev := range evs {
		fmt.Fprintf(&log, "%d %s cand %d accepted %v: %v %s\n", ev.Iteration, ev.Kind, ev.Candidate, ev.Accepted != nil && *ev.Accepted, ev.Summary, ev.Reason)
		if ev.Kind == EventCandidate && len(ev.Summary) == 1 && strings.HasPrefix(ev.Summary[0], "route by code classifier") {
			route = &evs[i]
		}
	}
	if route == nil || !*route.Accepted || len(res.Plan.Routers()) != 1 || res.Heldout.Risk() != 0 {
		t.Fatalf("no accepted route from the teacher (held-out risk %v):\n%s", res.Heldout.Risk(), log.String())
	}
	if route.RouterAccuracy == nil || *route.RouterAccuracy != 1 || len(route.Partitions) != 2 {
		t.Errorf("route event: router accuracy %v, partitions %+v", route.RouterAccuracy, route.Partitions)
	}
	var families []string
	for _, d := range srv.Decisions() {
		families = append(families, d.Family)
	}
	if !strings.Contains(strings.Join(families, ","), "word-problem") || !strings.Contains(strings.Join(families, ","), "route") {
		t.Errorf("teacher decisions %v: want an offload, then a route", families)
	}
	edited := res.Plan.Node("route").Router.Branch("edited").SubPlan()
	kept := res.Plan.Node("route").Router.Branch("kept").SubPlan()
	if len(edited.Nodes) != 2 || edited.Nodes[1].Code == nil || len(kept.Nodes) != 1 || kept.Nodes[0].LLM == nil {
		t.Errorf("branches: edited %+v, kept %+v", edited.Nodes, kept.Nodes)
	}
}
