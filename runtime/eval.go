package runtime

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/sgde-project/sgde/runtime/metric"
	"github.com/sgde-project/sgde/runtime/trace"
)

// Item is one data record to evaluate. The JSON names are part of the compiler's data digest
// (checkpoints refuse to resume on other data), so they never change.
type Item struct {
	ID     string         `json:"id"`
	Inputs map[string]any `json:"inputs"`
	Label  any            `json:"label"`
}

// ItemResult is one line of an eval's results file.
type ItemResult struct {
	ID         string         `json:"id"`
	Input      map[string]any `json:"input"`
	Label      any            `json:"label"`
	Prediction any            `json:"prediction"`
	Correct    bool           `json:"correct"`
	ErrorKind  string         `json:"error_kind,omitempty"`
	ErrorNode  string         `json:"error_node,omitempty"`
	Error      string         `json:"error,omitempty"`
	// Calls counts the student requests the run sent (cache hits excluded): what a budget is
	// charged. CallsNeeded counts the student calls the plan needed, answers replayed from the
	// cache and retries included: what the plan costs to run on a cold cache.
	Calls       int     `json:"student_calls"`
	CallsNeeded int     `json:"student_calls_needed"`
	Tokens      int     `json:"tokens"`
	LatencyMS   float64 `json:"latency_ms"`
}

// RunFunc runs a plan once on one item's inputs. Program.Run is one; the result must carry the
// run's trace even when the run fails.
type RunFunc func(ctx context.Context, inputs map[string]any) (*RunResult, error)

// StopError is what Eval returns when an item failed with one of EvalOptions.StopKinds.
type StopError struct {
	Item string
	Err  error
}

// Error names the item whose run hit the failure.
func (e *StopError) Error() string { return fmt.Sprintf("item %s: %v", e.Item, e.Err) }

// Unwrap returns the run's error.
func (e *StopError) Unwrap() error { return e.Err }

// EvalOptions configures Eval.
type EvalOptions struct {
	// ResultsPath is the JSONL file results stream to. Lines are appended as items finish and
	// synced to disk at least every second, so an interrupted eval keeps its work. Empty means
	// no file (an in-memory eval, e.g. a compiler scoring a candidate through OnResult).
	ResultsPath string
	// Resume keeps the results already in ResultsPath and evaluates only the missing items.
	// Without it an existing non-empty results file is an error, never overwritten.
	Resume bool
	// Traces, when set, receives the trace of every run.
	Traces *trace.Writer
	// Concurrency is the number of items in flight; 0 means 4.
	Concurrency int
	// Exclude lists item ids (suspect labels) that the report also leaves out, in Subset.
	Exclude map[string]bool
	// OnResult, when set, receives every new result with its run's trace as items finish (not
	// the resumed ones). It is called from one goroutine at a time.
	OnResult func(ItemResult, *trace.Run)
	// Progress is called after each item with the number done (resumed items included) and the
	// total. It is called from one goroutine at a time.
	Progress func(done, total int)
	// StopKinds are error kinds that say the eval itself, not the plan, is broken (e.g. the
	// student endpoint is down): the first item failing with one is recorded, the items in
	// flight are cut short (and not recorded), and Eval returns a *StopError. Every other
	// failure is charged to the plan and the eval goes on.
	StopKinds map[string]bool
}

// EvalReport summarises an eval.
type EvalReport struct {
	Plan   string `json:"plan"`
	Metric string `json:"metric"`
	// Total is the number of items asked for; N the number with a result (less when
	// interrupted).
	Total            int     `json:"total"`
	Accuracy         Score   `json:"accuracy"`
	Subset           *Score  `json:"accuracy_excluding_suspects,omitempty"`
	Errors           int     `json:"errors"`
	ParseFailureRate float64 `json:"parse_failure_rate"`
	// ErrorKinds counts failed items by error kind.
	ErrorKinds    map[string]int `json:"error_kinds"`
	CallsPerItem  float64        `json:"student_calls_per_item"`
	TokensPerItem float64        `json:"tokens_per_item"`
	LatencyP50MS  float64        `json:"latency_p50_ms"`
	LatencyP95MS  float64        `json:"latency_p95_ms"`
	// Resumed is how many results came from an earlier, interrupted eval.
	Resumed     int     `json:"resumed"`
	Interrupted bool    `json:"interrupted"`
	WallSeconds float64 `json:"wall_seconds"`
}

// Score is an accuracy with its 95% Wilson interval.
type Score struct {
	N        int     `json:"n"`
	Correct  int     `json:"correct"`
	Accuracy float64 `json:"accuracy"`
	CI95Low  float64 `json:"ci95_low"`
	CI95High float64 `json:"ci95_high"`
}

func score(correct, n int) Score {
	s := Score{N: n, Correct: correct}
	if n > 0 {
		s.Accuracy = float64(correct) / float64(n)
	}
	s.CI95Low, s.CI95High = metric.Wilson(correct, n, 1.96)
	return s
}

// syncEvery bounds how much finished work an interruption (or a crash) can lose.
const syncEvery = time.Second

// Eval runs prog on every item, scores each output with m, streams one ItemResult per item to
// opts.ResultsPath and returns the summary. A failing item is recorded with its error kind and
// the eval goes on. When ctx is cancelled Eval stops taking items, waits for the ones in
// flight, and returns the report of what finished together with ctx's error; items cut short
// by the cancellation are not recorded, so Resume runs them again.
func Eval(ctx context.Context, prog *Program, items []Item, m metric.Metric, opts EvalOptions) (*EvalReport, error) {
	return EvalFunc(ctx, prog.Plan().Metadata.Name, prog.Run, items, m, opts)
}

// EvalFunc is Eval over any way of running the plan called plan: the compiler scores candidates
// through it with its own runner.
func EvalFunc(ctx context.Context, plan string, run RunFunc, items []Item, m metric.Metric, opts EvalOptions) (*EvalReport, error) {
	start := time.Now()
	if opts.ResultsPath == "" && opts.Resume {
		return nil, errors.New("eval: resume needs a results file")
	}
	seen := make(map[string]bool, len(items))
	for _, it := range items {
		if seen[it.ID] {
			return nil, fmt.Errorf("eval: duplicate item id %q (resume needs unique ids)", it.ID)
		}
		seen[it.ID] = true
	}
	var f *os.File
	var prior []ItemResult
	if opts.ResultsPath != "" {
		var err error
		f, err = os.OpenFile(opts.ResultsPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("eval: %w", err)
		}
		defer f.Close()
		if err := lockResults(f); err != nil {
			return nil, fmt.Errorf("eval: %w", err)
		}
		if prior, err = loadResults(opts.ResultsPath, opts.Resume); err != nil {
			return nil, err
		}
	}

	results := make(map[string]ItemResult, len(items))
	for _, r := range prior {
		if seen[r.ID] {
			results[r.ID] = r
		}
	}
	resumed := len(results)
	var todo []Item
	for _, it := range items {
		if _, done := results[it.ID]; !done {
			todo = append(todo, it)
		}
	}

	var (
		mu       sync.Mutex
		writeErr error
		lastSync = time.Now()
	)
	record := func(r ItemResult, tr *trace.Run) {
		line, err := json.Marshal(r)
		mu.Lock()
		defer mu.Unlock()
		if err == nil && writeErr == nil && f != nil {
			_, err = f.Write(append(line, '\n'))
			if err == nil && time.Since(lastSync) >= syncEvery {
				err = f.Sync()
				lastSync = time.Now()
			}
		}
		if err == nil && opts.Traces != nil && tr != nil {
			err = opts.Traces.Write(tr)
		}
		if err != nil && writeErr == nil {
			writeErr = err
		}
		results[r.ID] = r
		if opts.OnResult != nil {
			opts.OnResult(r, tr)
		}
		if opts.Progress != nil {
			opts.Progress(len(results), len(items))
		}
	}
	if opts.Progress != nil {
		opts.Progress(len(results), len(items))
	}

	conc := opts.Concurrency
	if conc <= 0 {
		conc = 4
	}
	// runCtx is cancelled by a stopping failure as well as by the caller.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stopOnce sync.Once
	var stopErr error
	work := make(chan Item)
	var wg sync.WaitGroup
	for range min(conc, max(len(todo), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range work {
				res, err := run(runCtx, it.Inputs)
				if err != nil && runCtx.Err() != nil {
					continue // cut short: leave it for --resume
				}
				if res == nil || res.Trace == nil {
					res = &RunResult{Trace: &trace.Run{Plan: plan, Inputs: it.Inputs}}
					if err != nil {
						res.Trace.Error, res.Trace.ErrorKind = err.Error(), KindOf(err)
					}
				}
				tr := res.Trace
				tr.ID = it.ID
				r := ItemResult{
					ID: it.ID, Input: it.Inputs, Label: it.Label, Prediction: res.Output,
					Calls: tr.Calls, CallsNeeded: callsNeeded(tr.Nodes), Tokens: tr.Tokens.Total, LatencyMS: tr.LatencyMS,
				}
				if err != nil {
					r.ErrorKind, r.ErrorNode, r.Error = tr.ErrorKind, tr.ErrorNode, tr.Error
				} else {
					r.Correct = m.Score(res.Output, it.Label)
				}
				record(r, tr)
				if err != nil && opts.StopKinds[KindOf(err)] {
					stopOnce.Do(func() { stopErr = &StopError{Item: it.ID, Err: err} })
					cancel()
				}
			}
		}()
	}
feed:
	for _, it := range todo {
		select {
		case work <- it:
		case <-runCtx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if f != nil {
		if err := f.Sync(); err != nil && writeErr == nil {
			writeErr = err
		}
	}
	if writeErr != nil {
		return nil, fmt.Errorf("eval: write results: %w", writeErr)
	}

	ordered := make([]ItemResult, 0, len(results))
	for _, it := range items {
		if r, ok := results[it.ID]; ok {
			ordered = append(ordered, r)
		}
	}
	rep := Summarize(plan, m.Name(), len(items), ordered, opts.Exclude)
	rep.Resumed = resumed
	rep.WallSeconds = time.Since(start).Seconds()
	if ctx.Err() != nil {
		rep.Interrupted = true
		return rep, ctx.Err()
	}
	if stopErr != nil {
		rep.Interrupted = true
		return rep, stopErr
	}
	return rep, nil
}

// callsNeeded counts the llm executions of a run (retries included), inside consensus samples
// too, whether or not the answer came from the cache.
func callsNeeded(nodes []*trace.Node) int {
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
				n += callsNeeded(s.Nodes)
			}
		}
	}
	return n
}

// Summarize computes the report of a set of results; exclude (may be nil) names the ids left
// out of the Subset score.
func Summarize(plan, metricName string, total int, results []ItemResult, exclude map[string]bool) *EvalReport {
	rep := &EvalReport{Plan: plan, Metric: metricName, Total: total, ErrorKinds: map[string]int{}}
	n := len(results)
	correct, subN, subCorrect, parse := 0, 0, 0, 0
	var calls, tokens int
	lat := make([]float64, 0, n)
	for _, r := range results {
		if r.Correct {
			correct++
		}
		if !exclude[r.ID] {
			subN++
			if r.Correct {
				subCorrect++
			}
		}
		if r.ErrorKind != "" {
			rep.Errors++
			rep.ErrorKinds[r.ErrorKind]++
			if r.ErrorKind == KindParse {
				parse++
			}
		}
		calls += r.Calls
		tokens += r.Tokens
		lat = append(lat, r.LatencyMS)
	}
	rep.Accuracy = score(correct, n)
	if len(exclude) > 0 {
		s := score(subCorrect, subN)
		rep.Subset = &s
	}
	if n > 0 {
		rep.ParseFailureRate = float64(parse) / float64(n)
		rep.CallsPerItem = float64(calls) / float64(n)
		rep.TokensPerItem = float64(tokens) / float64(n)
	}
	sort.Float64s(lat)
	rep.LatencyP50MS, rep.LatencyP95MS = percentile(lat, 0.50), percentile(lat, 0.95)
	return rep
}

// percentile uses the nearest-rank method on sorted values.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p*float64(len(sorted))+0.999999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// loadResults reads an existing results file for resuming. A torn last line (the process died
// mid-write) is cut off so that appending continues cleanly.
func loadResults(path string, resume bool) ([]ItemResult, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	if !resume {
		return nil, fmt.Errorf("eval: results file %s already has results: pass --resume to continue it or choose another file", path)
	}
	var out []ItemResult
	good := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		end := good + len(b) + 1
		if len(bytes.TrimSpace(b)) == 0 {
			good = min(end, len(data))
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var r ItemResult
		if err := dec.Decode(&r); err != nil || r.ID == "" {
			if end >= len(data) && (len(data) == 0 || data[len(data)-1] != '\n') {
				break // torn last line
			}
			return nil, fmt.Errorf("eval: results file %s line %d is not a result: %v", path, line, err)
		}
		out = append(out, r)
		good = min(end, len(data))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("eval: read %s: %w", path, err)
	}
	if good < len(data) {
		if err := os.Truncate(path, int64(good)); err != nil {
			return nil, fmt.Errorf("eval: repair %s: %w", path, err)
		}
	} else if data[len(data)-1] != '\n' {
		// A complete last line without its newline: add it before appending.
		if err := appendNewline(path); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func appendNewline(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	_, err = io.WriteString(f, "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
