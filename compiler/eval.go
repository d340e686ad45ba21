package compiler

import (
	"context"
	"fmt"
	"sync"

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

// Outcome is how a plan did on one item.
type Outcome struct {
	Item      string `json:"item"`
	Correct   bool   `json:"correct"`
	Output    any    `json:"output,omitempty"`
	Error     string `json:"error,omitempty"`
	ErrorKind string `json:"error_kind,omitempty"`
	// Calls counts the student calls the plan needs per run (cached or not): its cost.
	// Requests counts those actually sent (cache misses): what the budget is charged.
	Calls     int     `json:"student_calls"`
	Requests  int     `json:"requests"`
	Tokens    int     `json:"tokens"`
	LatencyMS float64 `json:"latency_ms"`
	// Trace is the run's trace; it is not saved in checkpoints.
	Trace *trace.Run `json:"-"`
}

// Eval is a plan's outcomes on a batch, in item order.
type Eval struct {
	Outcomes []Outcome `json:"outcomes"`
}

// N is the number of items.
func (e Eval) N() int { return len(e.Outcomes) }

// Correct counts the items the plan got right.
func (e Eval) Correct() int {
	c := 0
	for _, o := range e.Outcomes {
		if o.Correct {
			c++
		}
	}
	return c
}

// Risk is the error rate (1 for an empty batch).
func (e Eval) Risk() float64 {
	if e.N() == 0 {
		return 1
	}
	return 1 - float64(e.Correct())/float64(e.N())
}

// CI is the Wilson 95% interval of the accuracy (the runtime's, so that eval and compile
// reports agree).
func (e Eval) CI() (lo, hi float64) { return metric.Wilson(e.Correct(), e.N(), 1.959963984540054) }

// Bits returns the per-item correctness, for paired tests.
func (e Eval) Bits() []bool {
	b := make([]bool, len(e.Outcomes))
	for i, o := range e.Outcomes {
		b[i] = o.Correct
	}
	return b
}

// logicalCalls counts llm executions (attempts included) in a trace, inside consensus samples
// too, whether or not the response came from the cache.
func logicalCalls(nodes []*trace.Node) int {
	n := 0
	for _, tn := range nodes {
		if tn == nil {
			continue
		}
		if tn.Substrate == "llm" {
			n += max(tn.Attempts, 1)
		}
		if tn.Consensus != nil {
			for _, s := range tn.Consensus.Samples {
				n += logicalCalls(s.Nodes)
			}
		}
	}
	return n
}

// Requests sums the student requests actually sent (cache misses).
func (e Eval) Requests() int64 {
	var r int64
	for _, o := range e.Outcomes {
		r += int64(o.Requests)
	}
	return r
}

// Cost sums what the batch spent.
func (e Eval) Cost() (calls, tokens int64, latencyMS float64) {
	for _, o := range e.Outcomes {
		calls += int64(o.Calls)
		tokens += int64(o.Tokens)
		latencyMS += o.LatencyMS
	}
	return
}

// PerItem returns the mean student calls, tokens and latency per item.
func (e Eval) PerItem() (calls, tokens, latencyMS float64) {
	if e.N() == 0 {
		return 0, 0, 0
	}
	c, t, l := e.Cost()
	n := float64(e.N())
	return float64(c) / n, float64(t) / n, l / n
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

// StudentError wraps a failure of the student endpoint that stops a compile.
type StudentError struct {
	Item string
	Err  error
}

// Error names the item whose run hit the failure.
func (e *StudentError) Error() string { return fmt.Sprintf("item %s: %v", e.Item, e.Err) }

// Unwrap returns the runtime error.
func (e *StudentError) Unwrap() error { return e.Err }

// evaluate runs p on every item with up to workers runs in flight. A run that fails counts as
// wrong; only cancellation and endpoint failures abort the batch.
func evaluate(ctx context.Context, r Runner, p *plans.Plan, items []Item, metric Metric, workers int, tick func()) (Eval, error) {
	if workers <= 0 {
		workers = 8
	}
	out := make([]Outcome, len(items))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	next := make(chan int)
	for w := 0; w < min(workers, len(items)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				o, err := runOne(ctx, r, p, items[i], metric)
				out[i] = o
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel()
				}
				if tick != nil {
					tick()
				}
			}
		}()
	}
feed:
	for i := range items {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return Eval{}, firstErr
	}
	if err := ctx.Err(); err != nil {
		return Eval{}, err
	}
	return Eval{Outcomes: out}, nil
}

func runOne(ctx context.Context, r Runner, p *plans.Plan, it Item, metric Metric) (Outcome, error) {
	res, err := r.Run(ctx, p, it.Inputs)
	o := Outcome{Item: it.ID}
	if res != nil && res.Trace != nil {
		tr := res.Trace
		tr.ID = it.ID
		o.Trace = tr
		o.Requests, o.Tokens, o.LatencyMS = tr.Calls, tr.Tokens.Total, tr.LatencyMS
		o.Calls = logicalCalls(tr.Nodes)
	}
	if err != nil {
		if ctx.Err() != nil {
			return o, ctx.Err()
		}
		kind := runtime.KindOf(err)
		o.Error, o.ErrorKind = err.Error(), kind
		if fatalKinds[kind] {
			return o, &StudentError{Item: it.ID, Err: err}
		}
		return o, nil
	}
	o.Output = res.Output
	o.Correct = metric(res.Output, it.Label)
	return o, nil
}

// Evaluate runs p on every item (up to workers at once) and scores each output with metric.
// Failed runs count as wrong; only cancellation and student-endpoint failures return an error.
func Evaluate(ctx context.Context, r Runner, p *plans.Plan, items []Item, metric Metric, workers int) (Eval, error) {
	return evaluate(ctx, r, p, items, metric, workers, nil)
}
