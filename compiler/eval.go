package compiler

import (
	"context"

	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/metric"
	"github.com/sgde-project/sgde/runtime/trace"
)

// Runner runs a plan once; *runtime.Runner implements it. The compiler never schedules nodes
// itself.
type Runner interface {
	Run(ctx context.Context, p *plans.Plan, inputs map[string]any) (*runtime.RunResult, error)
}

// fatalKinds are run failures that say the student endpoint, not the plan, is broken: a compile
// must stop on them rather than score them as wrong answers. Everything else, internal errors
// included, is charged to the plan: a teacher's candidate must never be able to stop a compile.
var fatalKinds = map[string]bool{
	runtime.KindStudentUnavailable: true,
	runtime.KindStudentRejected:    true,
	runtime.KindCacheMiss:          true,
	runtime.KindCanceled:           true,
}

// Scores is a plan's results on a batch, in item order, with each run's trace. It is what the
// runtime's evaluator (the one `sgde eval` uses) produced; the traces are the evidence a teacher
// reads and are never saved.
type Scores struct {
	Results []runtime.ItemResult
	Traces  []*trace.Run
}

// Evaluate runs p on every item (up to workers at once) through the runtime's evaluator and
// scores each output with m. Failed runs count as wrong; only cancellation and student-endpoint
// failures (a *runtime.StopError) return an error. tick, when set, is called once per item.
func Evaluate(ctx context.Context, r Runner, p *plans.Plan, items []runtime.Item, m metric.Metric, workers int, tick func()) (Scores, error) {
	return evaluate(ctx, r, p, items, m, workers, tick, false)
}

// ForcedRunner is a Runner that can also run a plan with its routers forced to given branches
// (*runtime.Runner is one). EvaluateRoutes needs it to check routing.
type ForcedRunner interface {
	RunForced(ctx context.Context, p *plans.Plan, inputs map[string]any, force map[string]string) (*runtime.RunResult, error)
}

// EvaluateRoutes is Evaluate with the routing check of a plan with routers (runtime.RouteCheck):
// on every item p gets wrong, the other branches of each top-level router are run, and items
// another branch gets right are marked misrouted in the results and traces. It needs r to be a
// ForcedRunner; with any other runner (or a plan without routers) it is Evaluate. The checks'
// student requests are in Results[i].RouteCheckCalls, and in Requests.
func EvaluateRoutes(ctx context.Context, r Runner, p *plans.Plan, items []runtime.Item, m metric.Metric, workers int, tick func()) (Scores, error) {
	return evaluate(ctx, r, p, items, m, workers, tick, true)
}

func evaluate(ctx context.Context, r Runner, p *plans.Plan, items []runtime.Item, m metric.Metric, workers int, tick func(), routes bool) (Scores, error) {
	if workers <= 0 {
		workers = 8
	}
	byID := make(map[string]int, len(items))
	for i, it := range items {
		byID[it.ID] = i
	}
	s := Scores{Results: make([]runtime.ItemResult, len(items)), Traces: make([]*trace.Run, len(items))}
	run := func(ctx context.Context, in map[string]any) (*runtime.RunResult, error) { return r.Run(ctx, p, in) }
	var check *runtime.RouteCheck
	if fr, ok := r.(ForcedRunner); ok && routes {
		check = runtime.NewRouteCheck(p, func(ctx context.Context, in map[string]any, force map[string]string) (*runtime.RunResult, error) {
			return fr.RunForced(ctx, p, in, force)
		})
	}
	_, err := runtime.EvalFunc(ctx, p.Metadata.Name, run, items, m, runtime.EvalOptions{
		Routes:      check,
		Concurrency: workers,
		StopKinds:   fatalKinds,
		OnResult: func(res runtime.ItemResult, tr *trace.Run) {
			i := byID[res.ID]
			s.Results[i], s.Traces[i] = res, tr
			if tick != nil {
				tick()
			}
		},
	})
	if err != nil {
		return Scores{}, err
	}
	return s, nil
}

// N is the number of items.
func (s Scores) N() int { return len(s.Results) }

// Correct counts the items the plan got right.
func (s Scores) Correct() int {
	c := 0
	for _, r := range s.Results {
		if r.Correct {
			c++
		}
	}
	return c
}

// Risk is the error rate (1 for an empty batch).
func (s Scores) Risk() float64 {
	if s.N() == 0 {
		return 1
	}
	return 1 - float64(s.Correct())/float64(s.N())
}

// Bits returns the per-item correctness, for paired tests.
func (s Scores) Bits() []bool {
	b := make([]bool, len(s.Results))
	for i, r := range s.Results {
		b[i] = r.Correct
	}
	return b
}

// Answers sums the student answers behind the batch by source (recorded, simulated, model).
func (s Scores) Answers() trace.Sources {
	var a trace.Sources
	for _, r := range s.Results {
		a = a.Add(r.Answers)
	}
	return a
}

// Requests sums the student requests actually sent (cache misses): what budgets are charged.
func (s Scores) Requests() int64 {
	var n int64
	for _, r := range s.Results {
		n += int64(r.Calls + r.RouteCheckCalls)
	}
	return n
}

// Cost sums what the batch needed: student calls (cached or not), tokens and latency.
func (s Scores) Cost() (calls, tokens int64, latencyMS float64) {
	for _, r := range s.Results {
		calls += int64(r.CallsNeeded)
		tokens += int64(r.Tokens)
		latencyMS += r.LatencyMS
	}
	return
}

// PerItem returns the mean student calls, tokens and latency per item.
func (s Scores) PerItem() (calls, tokens, latencyMS float64) {
	if s.N() == 0 {
		return 0, 0, 0
	}
	c, t, l := s.Cost()
	n := float64(s.N())
	return float64(c) / n, float64(t) / n, l / n
}

// Summary is the runtime's report of the batch (accuracy with its Wilson interval, error
// kinds, cost), the same figures `sgde eval` prints.
func (s Scores) Summary(plan, metricName string, exclude map[string]bool) *runtime.EvalReport {
	return runtime.Summarize(plan, metricName, s.N(), s.Results, exclude)
}
