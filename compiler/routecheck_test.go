package compiler

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/llm"
	"github.com/sgde-project/sgde/runtime/metric"
)

// kindStudent classifies every question as "words" (also those about sums: the known group the
// router sends wrongly); the words branch answers 1, the sums branch 2.
type kindStudent struct{}

func (kindStudent) Complete(_ context.Context, req llm.Request) (llm.Response, error) {
	u := req.Messages[len(req.Messages)-1].Content
	text := "The answer is 1."
	switch {
	case strings.HasPrefix(u, "Kind? "):
		text = "words"
	case strings.HasPrefix(u, "Sum "):
		text = "The answer is 2."
	}
	return llm.Response{Text: text, FinishReason: "stop"}, nil
}

const kindRouted = `apiVersion: sgde/v1
kind: Plan
metadata: {name: kinds}
inputs: [{name: question, type: string}]
output: route
nodes:
  - {id: kind, substrate: llm, llm: {prompt: "Kind? {{ inputs.question }}", parser: {type: text}}}
  - id: route
    substrate: router
    router:
      on: kind
      default: words
      branches:
        - name: sums
          inputs: {q: inputs.question}
          plan: {apiVersion: sgde/v1, kind: Plan, metadata: {name: sums}, inputs: [{name: q, type: string}], output: n,
                 nodes: [{id: n, substrate: llm, llm: {prompt: "Sum {{ inputs.q }}", parser: {type: number}}}]}
        - name: words
          inputs: {q: inputs.question}
          plan: {apiVersion: sgde/v1, kind: Plan, metadata: {name: words}, inputs: [{name: q, type: string}], output: n,
                 nodes: [{id: n, substrate: llm, llm: {prompt: "Words {{ inputs.q }}", parser: {type: number}}}]}
`

// TestEvaluateRoutes: the sum items the classifier sends to the words branch are misrouted in
// the scores the report reads; Evaluate alone leaves routing unchecked; the checks' requests are
// charged to Requests.
func TestEvaluateRoutes(t *testing.T) {
	p, err := plans.Parse([]byte(kindRouted), "kinds.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r, err := runtime.New(runtime.Options{Student: kindStudent{}, Model: "kinds"})
	if err != nil {
		t.Fatal(err)
	}
	var items []runtime.Item
	for i, label := range []string{"1", "2", "1", "2", "3"} {
		items = append(items, runtime.Item{ID: string(rune('a' + i)), Inputs: map[string]any{"question": "q"}, Label: json.Number(label)})
	}
	m := metric.Numeric{RelTol: metric.DefaultRelTol}
	s, err := EvaluateRoutes(context.Background(), r, p, items, m, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep := s.Summary("kinds", "numeric", nil)
	if rep.Misrouted != 2 || len(rep.Routers) != 1 || rep.Routers[0].Checked != 5 || rep.Routers[0].Accuracy != 0.6 {
		t.Fatalf("routing: misrouted %d, routers %+v; want the 2 sum items misrouted of 5 checked", rep.Misrouted, rep.Routers)
	}
	if got := (Scores{Results: []runtime.ItemResult{{Calls: 2, RouteCheckCalls: 3}}}).Requests(); got != 5 {
		t.Errorf("requests %d, want 5: the checks' requests are spent too", got)
	}
	plain, err := Evaluate(context.Background(), r, p, items, m, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep := plain.Summary("kinds", "numeric", nil); rep.Misrouted != 0 || rep.Routers[0].Checked != 0 {
		t.Errorf("Evaluate checked routing: %+v", rep.Routers)
	}
}
