package compiler

import (
	"context"
	"fmt"

	"github.com/sgde-project/sgde/compiler/edit"
	"github.com/sgde-project/sgde/compiler/teacher"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/metric"
)

// Bootstrapped is the few-shot baseline (the DSPy BootstrapFewShot idea): the initial plan with
// each llm node given up to three demonstrations taken from its own correct traces on the
// training batch. It returns the plan and the student calls bootstrapping needed (one training
// run, cached or not).
func Bootstrapped(ctx context.Context, r Runner, initial *plans.Plan, train []runtime.Item, m metric.Metric, workers int) (*plans.Plan, int64, error) {
	ev, err := Evaluate(ctx, r, initial, train, m, workers, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("bootstrap few-shot: %w", err)
	}
	var edits []edit.Edit
	for _, ne := range evidence(initial, ev, train) {
		n := initial.Node(ne.Node)
		if n == nil || n.LLM == nil {
			continue
		}
		if demos := teacher.Bootstrap(ne.Passing); len(demos) > 0 {
			edits = append(edits, edit.Edit{Action: edit.RefinePrompt, Node: n.ID, Examples: demos})
		}
	}
	p := initial
	if len(edits) > 0 {
		if p, err = edit.Apply(initial, edits...); err != nil {
			return nil, 0, fmt.Errorf("bootstrap few-shot: %w", err)
		}
	}
	q, err := clonePlan(p)
	if err != nil {
		return nil, 0, err
	}
	q.Metadata.Name = initial.Metadata.Name + "-few-shot"
	calls, _, _ := ev.Cost()
	return q, calls, nil
}
