package report

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sgde-project/sgde/compiler"
	"github.com/sgde-project/sgde/compiler/teacher"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/llm"
	"github.com/sgde-project/sgde/runtime/metric"
	"github.com/sgde-project/sgde/runtime/trace"
)

// kindItems: even ids are word problems ("how many"), odd ones multiple choice ("Options:");
// the label is the id.
func kindItems(n, offset int) []runtime.Item {
	items := make([]runtime.Item, n)
	for i := range items {
		id := offset + i
		q := fmt.Sprintf("n%d how many?", id)
		if i%2 == 1 {
			q = fmt.Sprintf("n%d which?\nOptions:\n(A) x", id)
		}
		items[i] = runtime.Item{ID: strconv.Itoa(id), Inputs: map[string]any{"question": q}, Label: id}
	}
	return items
}

// kindRunner is the student: an llm node whose prompt says "mode=calc" answers word problems,
// any other answers multiple choice. A router's llm classifier says "calc" for word problems
// except those whose id ends in 6 (the group it sends wrongly).
type kindRunner struct{}

func (k kindRunner) Run(ctx context.Context, p *plans.Plan, in map[string]any) (*runtime.RunResult, error) {
	return k.RunForced(ctx, p, in, nil)
}

func (k kindRunner) RunForced(ctx context.Context, p *plans.Plan, in map[string]any, force map[string]string) (*runtime.RunResult, error) {
	q := in["question"].(string)
	calc := !strings.Contains(q, "Options:")
	if rs := p.Routers(); len(rs) == 1 {
		r := rs[0].Router
		kind := "plain"
		if calc && !strings.Contains(q, "6 how") {
			kind = "calc"
		}
		branch := r.Choose(kind).Branch
		if b, ok := force[rs[0].ID]; ok {
			branch = b
		}
		sub, err := k.Run(ctx, r.Branch(branch).SubPlan(), in)
		if err != nil {
			return sub, err
		}
		tr := &trace.Run{Output: sub.Output, Inputs: in, Nodes: []*trace.Node{{ID: r.On, Substrate: "llm", Value: kind},
			{ID: rs[0].ID, Substrate: "router", Route: &trace.Route{On: r.On, Classified: kind, Branch: branch, Run: sub.Trace}}}}
		return &runtime.RunResult{Output: sub.Output, Trace: tr}, nil
	}
	out := any(-1)
	if strings.Contains(p.Nodes[0].LLM.Prompt, "mode=calc") == calc {
		out, _ = strconv.Atoi(strings.TrimPrefix(strings.Fields(q)[0], "n"))
	}
	raw := fmt.Sprint(out)
	return &runtime.RunResult{Output: out, Trace: &trace.Run{Output: out, Inputs: in, Nodes: []*trace.Node{{ID: p.Nodes[0].ID, Substrate: "llm", Attempts: 1, Raw: &raw, Value: out,
		Prompt: []trace.Message{{Role: "user", Content: q}}}}}}, nil
}

type oneReply struct{ reply string }

func (o *oneReply) Complete(context.Context, llm.Request) (llm.Response, error) {
	if o.reply == "" {
		return llm.Response{}, fmt.Errorf("no more replies: %w", llm.ErrUnavailable)
	}
	r := o.reply
	o.reply = ""
	return llm.Response{Text: r, FinishReason: "stop"}, nil
}

// TestRunReportsMisrouted: a compile whose teacher routes word problems and multiple-choice
// questions apart, with a classifier that sends the word problems ending in 6 the wrong way:
// the report (text and HTML) gives the router's accuracy and those items as misrouted in the
// branch they were sent to, on the test set the compiler never saw.
func TestRunReportsMisrouted(t *testing.T) {
	initial, err := plans.Parse([]byte(`apiVersion: sgde/v1
kind: Plan
metadata: {name: mixed}
inputs: [{name: question, type: string}]
output: answer
nodes:
  - {id: answer, substrate: llm, llm: {prompt: "mode=plain {{ inputs.question }}", parser: {type: number}}}
`), "mixed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	reply := `{"candidates": [{"edits": [{"action": "route", "classifier": {"substrate": "llm", "prompt": "Kind? {{ inputs.question }}"},
  "branches": [{"name": "calc", "edits": [{"action": "refine_prompt", "node": "answer", "prompt": "mode=calc {{ inputs.question }}"}]}, {"name": "plain", "edits": []}],
  "default": "plain"}]}]}`
	dir := t.TempDir()
	var out bytes.Buffer
	o, err := Run(context.Background(), Job{Config: compiler.Config{Initial: initial, Train: kindItems(40, 0), Heldout: kindItems(40, 1000),
		Metric: metric.Exact{}, Teacher: teacher.NewLLM(&oneReply{reply}, "one", 0), Runner: kindRunner{}, Dir: dir, K: 1, Iterations: 1},
		Test: kindItems(60, 2000), Task: "mixed", Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	// Test ids 2000..2059: word problems 2006, 2016, ..., 2056 (6) go to plain.
	comp := o.Rows[2]
	if len(o.Result.Plan.Routers()) != 1 || comp.Misrouted != 6 || len(comp.Routers) != 1 {
		t.Fatalf("compiled row: misrouted %d, routers %+v\n%s", comp.Misrouted, comp.Routers, out.String())
	}
	// The teacher's router, once accepted, has its held-out check kept like a learned split's:
	// it is printed under its own name and bounded in the PAC section.
	for _, want := range []string{"router at its acceptance: router accuracy 90.0% (4 misrouted of 40 checked", "PAC router route: 4 of 40 held-out items misrouted",
		"router route of the sgde compiled plan on the test set", "accuracy 90.0%, 6 misrouted of 60 checked", "branch plain: 36 items, 30 right, 6 misrouted", "branch calc: 24 items, 24 right, 0 misrouted"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, out.String())
		}
	}
	html, err := os.ReadFile(filepath.Join(dir, FileReport))
	if err != nil || !strings.Contains(string(html), "Router accuracy 90.0%: 6 of 60 checked items misrouted") {
		t.Errorf("report.html lacks the router's accuracy (%v)", err)
	}
}
