package runtime

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sgde-project/sgde/plans"
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
	// Calls counts the HTTP requests the run sent to the student (retries and requests of calls
	// that failed included, cache hits excluded): what a budget is charged. CallsNeeded counts
	// the student calls the plan needed, answers replayed from the cache and retries included:
	// what the plan costs to run on a cold cache, the same whether the cache was cold or warm.
	Calls       int `json:"student_calls"`
	CallsNeeded int `json:"student_calls_needed"`
	// CacheHits is how many of CallsNeeded the response cache answered.
	CacheHits int     `json:"cache_hits"`
	Tokens    int     `json:"tokens"`
	LatencyMS float64 `json:"latency_ms"`
	// Answers counts the run's student answers by source (recorded, simulated, model).
	Answers trace.Sources `json:"student_answers"`
	// Routes is what each top-level router did (routecheck.go); Misrouted is true when one
	// sent the item to a wrong branch while another branch was right. RouteCheckCalls are the
	// student requests of the runs that checked it (not part of Calls: they are the
	// evaluation's cost, not the plan's).
	Routes          []ItemRoute `json:"routes,omitempty"`
	Misrouted       bool        `json:"misrouted,omitempty"`
	RouteCheckCalls int         `json:"route_check_calls,omitempty"`
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
	// PlanDigest identifies the plan in the results file's header; Eval fills it in from the
	// program, EvalFunc callers writing a results file should set it.
	PlanDigest string
	// DataDigest identifies the data set (e.g. the sha256 of the data file). It is recorded in
	// the results file's header, and Resume refuses a file produced from other data.
	DataDigest string
	// Settings are the options that change answers or scores (student model, record fields,
	// ...), recorded in the header and compared on Resume like DataDigest.
	Settings map[string]string
	// Routes, when set, checks the plan's routers on the items it gets wrong by running the
	// other branches (routecheck.go): misrouted items are marked in results and traces and
	// counted in the report. Program.RouteCheck gives it for a program.
	Routes *RouteCheck
}

// ResultsHeader is the first line of a results file: what produced the results below it.
// Resume continues a file only when the header matches the current eval exactly, so results of
// another plan, data set, metric or student are never mixed in.
type ResultsHeader struct {
	// Version marks the line as a header (results lines have an "id" instead).
	Version    int               `json:"sgde_results"`
	Plan       string            `json:"plan"`
	PlanDigest string            `json:"plan_digest"`
	DataDigest string            `json:"data_digest,omitempty"`
	Metric     string            `json:"metric"`
	Settings   map[string]string `json:"settings,omitempty"`
}

// resultsVersion is the results file format: 1 added the header line.
const resultsVersion = 1

// ErrProvenance means a results file was produced by a different plan, data set, metric or
// settings than the eval asked to continue it.
var ErrProvenance = errors.New("results file was produced by a different eval")

// mismatch describes how h differs from want, or returns "" when they agree.
func (h ResultsHeader) mismatch(want ResultsHeader) string {
	var d []string
	diff := func(what, got, want string) {
		if got != want {
			d = append(d, fmt.Sprintf("%s %q (now %q)", what, got, want))
		}
	}
	diff("plan", h.Plan, want.Plan)
	diff("plan digest", h.PlanDigest, want.PlanDigest)
	diff("data digest", h.DataDigest, want.DataDigest)
	diff("metric", h.Metric, want.Metric)
	keys := map[string]bool{}
	for k := range h.Settings {
		keys[k] = true
	}
	for k := range want.Settings {
		keys[k] = true
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		diff(k, h.Settings[k], want.Settings[k])
	}
	if len(d) == 0 {
		return ""
	}
	return strings.Join(d, ", ")
}

// Infrastructure reports whether a failure of kind says more about the machinery around the
// plan (endpoint, cache, disk, toolchain, cancellation) than about the plan: such results are
// recorded, but Resume runs those items again instead of keeping them as done.
func Infrastructure(kind string) bool {
	switch kind {
	case KindStudentUnavailable, KindStudentRejected, KindStudentBadResponse, KindCacheMiss,
		KindCacheCorrupt, KindTimeout, KindCanceled, KindBuild, KindInternal:
		return true
	}
	return false
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
	ErrorKinds   map[string]int `json:"error_kinds"`
	CallsPerItem float64        `json:"student_calls_per_item"`
	// Answers counts every student answer behind the accuracy by source: the share of
	// recorded real-model answers and of simulated ones is printed next to every accuracy.
	Answers       trace.Sources `json:"student_answers"`
	TokensPerItem float64       `json:"tokens_per_item"`
	LatencyP50MS  float64       `json:"latency_p50_ms"`
	LatencyP95MS  float64       `json:"latency_p95_ms"`
	// Requests is the number of HTTP requests sent to the student, retries and requests of
	// calls that failed included (CallsPerItem is Requests per item); PlanCallsPerItem counts
	// the completions the plan asked for, cache hits included, so it is the same cold or warm.
	Requests         int     `json:"student_requests"`
	PlanCallsPerItem float64 `json:"plan_calls_per_item"`
	// Retries is Requests minus the completions sent (at least one request each).
	Retries   int `json:"retries"`
	CacheHits int `json:"cache_hits"`
	// CacheWriteErrors and CacheReadErrors count answers this eval could not store in, or read
	// from, the response cache. Results are still right (the student was asked), but a replay
	// of this eval will miss them.
	CacheWriteErrors int `json:"cache_write_errors,omitempty"`
	CacheReadErrors  int `json:"cache_read_errors,omitempty"`
	// Resumed is how many results came from an earlier, interrupted eval; Rerun how many
	// earlier results were failures of the infrastructure (see Infrastructure) and were run
	// again.
	Resumed     int     `json:"resumed"`
	Rerun       int     `json:"rerun,omitempty"`
	Interrupted bool    `json:"interrupted"`
	WallSeconds float64 `json:"wall_seconds"`
	// Routers is the routing of each top-level router (routecheck.go); Misrouted counts the
	// items any of them misrouted, and RouteCheckRequests the student requests spent checking.
	Routers            []RouterReport `json:"routers,omitempty"`
	Misrouted          int            `json:"misrouted,omitempty"`
	RouteCheckRequests int            `json:"route_check_requests,omitempty"`
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

// wrapResults, when set (by tests), wraps the writer of every results file: it is how a test
// makes the disk fill up at a chosen moment.
var wrapResults func(io.Writer) io.Writer

// syncEvery bounds how much finished work an interruption (or a crash) can lose.
const syncEvery = time.Second

// Eval runs prog on every item, scores each output with m, streams one ItemResult per item to
// opts.ResultsPath and returns the summary. A failing item is recorded with its error kind and
// the eval goes on. When ctx is cancelled Eval stops taking items, waits for the ones in
// flight, and returns the report of what finished together with ctx's error; items cut short
// by the cancellation are not recorded, so Resume runs them again.
//
// A results file that cannot be written stops the eval at once (results already written are
// kept; the report and an error are returned). A traces file that cannot be written does not:
// results go on, and the error is returned at the end.
func Eval(ctx context.Context, prog *Program, items []Item, m metric.Metric, opts EvalOptions) (*EvalReport, error) {
	if opts.PlanDigest == "" && opts.ResultsPath != "" {
		d, err := plans.Digest(prog.Plan())
		if err != nil {
			return nil, fmt.Errorf("eval: plan digest: %w", err)
		}
		opts.PlanDigest = d
	}
	if opts.Routes == nil && len(prog.Plan().Routers()) > 0 {
		// A plan with routers evaluated without the check records that too, so a resume with
		// the check on (or the other way round) is refused rather than mixing the two.
		opts.Settings = withSetting(opts.Settings, SettingRouteCheck, "off")
	}
	return evalFunc(ctx, prog.Plan().Metadata.Name, prog.Run, prog.r, items, m, opts)
}

// SettingRouteCheck is the results header's setting saying whether a plan with routers was
// evaluated with the routing check ("on") or without it ("off"): items of the two kinds differ
// in their routes and misrouted counts, so Resume refuses to mix them. Plans without routers
// do not record it.
const SettingRouteCheck = "route_check"

// withSetting returns a copy of settings with k set to v; the caller's map is left alone.
func withSetting(settings map[string]string, k, v string) map[string]string {
	out := maps.Clone(settings)
	if out == nil {
		out = map[string]string{}
	}
	out[k] = v
	return out
}

// EvalFunc is Eval over any way of running the plan called plan: the compiler scores candidates
// through it with its own runner.
func EvalFunc(ctx context.Context, plan string, run RunFunc, items []Item, m metric.Metric, opts EvalOptions) (*EvalReport, error) {
	return evalFunc(ctx, plan, run, nil, items, m, opts)
}

// evalFunc is EvalFunc; runner, when known, supplies the cache counters of the report.
func evalFunc(ctx context.Context, plan string, run RunFunc, runner *Runner, items []Item, m metric.Metric, opts EvalOptions) (*EvalReport, error) {
	start := time.Now()
	if opts.Routes != nil {
		opts.Settings = withSetting(opts.Settings, SettingRouteCheck, "on")
	}
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
	var w io.Writer
	var prior []ItemResult
	if opts.ResultsPath != "" {
		header := resultsHeader(plan, m, opts)
		var err error
		f, err = os.OpenFile(opts.ResultsPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("eval: %w", err)
		}
		defer f.Close()
		w = f
		if err := lockResults(f); err != nil {
			return nil, fmt.Errorf("eval: %w", err)
		}
		var found *ResultsHeader
		st, err := f.Stat()
		if err != nil {
			return nil, fmt.Errorf("eval: %w", err)
		}
		// A device or pipe (/dev/full, a FIFO) has nothing to resume, and reading one may
		// never end.
		if st.Mode().IsRegular() {
			if found, prior, err = loadResults(opts.ResultsPath, opts.Resume); err != nil {
				return nil, err
			}
		}
		if wrapResults != nil {
			w = wrapResults(f)
		}
		if found == nil {
			if len(prior) > 0 {
				return nil, fmt.Errorf("eval: %w: %s has no header saying what produced it (written by an older sgde); choose another results file", ErrProvenance, opts.ResultsPath)
			}
			line, err := json.Marshal(header)
			if err == nil {
				_, err = w.Write(append(line, '\n'))
			}
			if err != nil {
				return nil, fmt.Errorf("eval: write results header: %w", err)
			}
		} else if d := found.mismatch(header); d != "" {
			return nil, fmt.Errorf("eval: %w: %s differs in %s; choose another results file", ErrProvenance, opts.ResultsPath, d)
		}
	}

	results := make(map[string]ItemResult, len(items))
	byID := make(map[string]Item, len(items))
	for _, it := range items {
		byID[it.ID] = it
	}
	// Failures of the infrastructure are run again; a later line for the same id (such a
	// rerun) supersedes them.
	rerunIDs := map[string]bool{}
	for _, r := range prior {
		it, ok := byID[r.ID]
		if !ok {
			continue
		}
		if !sameJSON(r.Input, it.Inputs) || !sameJSON(r.Label, it.Label) {
			return nil, fmt.Errorf("eval: %w: item %q of %s has another input or label than the data now; choose another results file", ErrProvenance, r.ID, opts.ResultsPath)
		}
		if Infrastructure(r.ErrorKind) {
			rerunIDs[r.ID] = true
			continue
		}
		results[r.ID] = r
	}
	rerun := 0
	for id := range rerunIDs {
		if _, done := results[id]; !done {
			rerun++
		}
	}
	resumed := len(results)
	var todo []Item
	for _, it := range items {
		if _, done := results[it.ID]; !done {
			todo = append(todo, it)
		}
	}

	// Items run under ictx, which a failed results write cancels: evaluating items whose
	// results cannot be kept only spends student requests.
	ictx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	var before Stats
	if runner != nil {
		before = runner.Stats()
	}
	var stopOnce sync.Once
	var stopErr error
	var (
		mu              sync.Mutex
		writeErr, trErr error
		lastSync        = time.Now()
	)
	record := func(r ItemResult, tr *trace.Run) {
		line, err := json.Marshal(r)
		mu.Lock()
		defer mu.Unlock()
		if writeErr != nil {
			return
		}
		if err == nil && f != nil {
			_, err = w.Write(append(line, '\n'))
			if err == nil && time.Since(lastSync) >= syncEvery {
				err = f.Sync()
				lastSync = time.Now()
			}
		}
		if err != nil {
			writeErr = err
			stop(fmt.Errorf("write results: %w", err))
			return
		}
		if trErr == nil && opts.Traces != nil && tr != nil {
			trErr = opts.Traces.Write(tr)
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
	work := make(chan Item)
	var wg sync.WaitGroup
	for range min(conc, max(len(todo), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range work {
				res, err := run(ictx, it.Inputs)
				if err != nil && ictx.Err() != nil {
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
					Calls: tr.Calls, CallsNeeded: callsNeeded(tr.Nodes), CacheHits: tr.CacheHits,
					Tokens: tr.Tokens.Total, LatencyMS: tr.LatencyMS,
					Answers: trace.CountSources(tr.Nodes),
				}
				if err != nil {
					r.ErrorKind, r.ErrorNode, r.Error = tr.ErrorKind, tr.ErrorNode, tr.Error
				} else {
					r.Correct = m.Score(res.Output, it.Label)
				}
				r.RouteCheckCalls = checkRoutes(ictx, opts.Routes, it, &r, tr, m)
				record(r, tr)
				if err != nil && opts.StopKinds[KindOf(err)] {
					stopOnce.Do(func() { stopErr = &StopError{Item: it.ID, Err: err} })
					stop(stopErr)
				}
			}
		}()
	}
feed:
	for _, it := range todo {
		select {
		case work <- it:
		case <-ictx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if f != nil && writeErr == nil {
		if err := f.Sync(); err != nil {
			writeErr = err
		}
	}

	ordered := make([]ItemResult, 0, len(results))
	for _, it := range items {
		if r, ok := results[it.ID]; ok {
			ordered = append(ordered, r)
		}
	}
	rep := Summarize(plan, m.Name(), len(items), ordered, opts.Exclude)
	rep.Resumed = resumed
	rep.Rerun = rerun
	if runner != nil {
		after := runner.Stats()
		rep.CacheWriteErrors = int(after.CacheWriteErrors - before.CacheWriteErrors)
		rep.CacheReadErrors = int(after.CacheReadErrors - before.CacheReadErrors)
	}
	rep.WallSeconds = time.Since(start).Seconds()
	rep.Interrupted = len(ordered) < len(items)
	switch {
	case writeErr != nil:
		return rep, fmt.Errorf("eval: write results to %s (stopped; the %d results before the failure are kept): %w", opts.ResultsPath, len(ordered), writeErr)
	case ctx.Err() != nil:
		return rep, ctx.Err()
	case stopErr != nil:
		return rep, stopErr
	case trErr != nil:
		return rep, fmt.Errorf("eval: write traces (results are complete, traces are not): %w", trErr)
	}
	return rep, nil
}

// DefaultResultsPath is the results file an eval of p on dataPath writes when not told: in the
// current directory, named after the plan, its digest and the data file, so that evals of
// different plans or data never land in one file.
func DefaultResultsPath(p *plans.Plan, dataPath string) (string, error) {
	d, err := plans.Digest(p)
	if err != nil {
		return "", fmt.Errorf("plan digest: %w", err)
	}
	d = strings.TrimPrefix(d, "sha256:")
	data := strings.TrimSuffix(filepath.Base(dataPath), filepath.Ext(dataPath))
	name := fmt.Sprintf("%s.%s.%s.results.jsonl", p.Metadata.Name, data, d[:min(len(d), 12)])
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == os.PathSeparator {
			return '_'
		}
		return r
	}, name), nil
}

// resultsHeader is the header an eval of plan with m and opts writes.
func resultsHeader(plan string, m metric.Metric, opts EvalOptions) ResultsHeader {
	return ResultsHeader{
		Version: resultsVersion, Plan: plan, PlanDigest: opts.PlanDigest,
		DataDigest: opts.DataDigest, Metric: fmt.Sprintf("%s %+v", m.Name(), m), Settings: opts.Settings,
	}
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
		if tn.Route != nil && tn.Route.Run != nil {
			n += callsNeeded(tn.Route.Run.Nodes)
		}
	}
	return n
}

// sameJSON compares two values as JSON (numbers read back from a results file are json.Number,
// the data's may be float64).
func sameJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	if err1 != nil || err2 != nil {
		return false
	}
	var va, vb any
	da, db := json.NewDecoder(bytes.NewReader(ja)), json.NewDecoder(bytes.NewReader(jb))
	da.UseNumber()
	db.UseNumber()
	if da.Decode(&va) != nil || db.Decode(&vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}

// Summarize computes the report of a set of results; exclude (may be nil) names the ids left
// out of the Subset score.
func Summarize(plan, metricName string, total int, results []ItemResult, exclude map[string]bool) *EvalReport {
	rep := &EvalReport{Plan: plan, Metric: metricName, Total: total, ErrorKinds: map[string]int{}}
	n := len(results)
	correct, subN, subCorrect, parse := 0, 0, 0, 0
	var calls, planCalls, tokens int
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
		planCalls += r.CallsNeeded
		rep.CacheHits += r.CacheHits
		tokens += r.Tokens
		rep.Answers = rep.Answers.Add(r.Answers)
		lat = append(lat, r.LatencyMS)
		if r.Misrouted {
			rep.Misrouted++
		}
		rep.RouteCheckRequests += r.RouteCheckCalls
	}
	rep.Routers = summarizeRoutes(results)
	rep.Requests = calls
	rep.Retries = max(calls-(planCalls-rep.CacheHits), 0)
	rep.Accuracy = score(correct, n)
	if len(exclude) > 0 {
		s := score(subCorrect, subN)
		rep.Subset = &s
	}
	if n > 0 {
		rep.ParseFailureRate = float64(parse) / float64(n)
		rep.CallsPerItem = float64(calls) / float64(n)
		rep.PlanCallsPerItem = float64(planCalls) / float64(n)
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

// loadResults reads an existing results file for resuming: its header (nil when the file is
// empty or was written before headers existed) and its results. A torn last line (the process
// died mid-write) is cut off so that appending continues cleanly.
func loadResults(path string, resume bool) (*ResultsHeader, []ItemResult, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("eval: %w", err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil, nil
	}
	if !resume {
		return nil, nil, fmt.Errorf("eval: results file %s already has results: pass --resume to continue it or choose another file", path)
	}
	var header *ResultsHeader
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
		torn := end >= len(data) && data[len(data)-1] != '\n'
		if line == 1 && bytes.Contains(b, []byte(`"sgde_results"`)) {
			var h ResultsHeader
			if err := json.Unmarshal(b, &h); err != nil || h.Version == 0 {
				if torn {
					break
				}
				return nil, nil, fmt.Errorf("eval: results file %s: bad header: %v", path, err)
			}
			if h.Version > resultsVersion {
				return nil, nil, fmt.Errorf("eval: results file %s is format %d, newer than this sgde (%d)", path, h.Version, resultsVersion)
			}
			header = &h
			good = min(end, len(data))
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var r ItemResult
		if err := dec.Decode(&r); err != nil || r.ID == "" {
			if torn {
				break // torn last line
			}
			return nil, nil, fmt.Errorf("eval: results file %s line %d is not a result: %v", path, line, err)
		}
		out = append(out, r)
		good = min(end, len(data))
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("eval: read %s: %w", path, err)
	}
	if good < len(data) {
		if err := os.Truncate(path, int64(good)); err != nil {
			return nil, nil, fmt.Errorf("eval: repair %s: %w", path, err)
		}
	} else if data[len(data)-1] != '\n' {
		// A complete last line without its newline: add it before appending.
		if err := appendNewline(path); err != nil {
			return nil, nil, err
		}
	}
	return header, out, nil
}

// ReadResults reads a results file: its header (nil for files written before headers) and
// every complete result line, in file order. A later line for an id supersedes earlier ones
// (an item run again on resume).
func ReadResults(path string) (*ResultsHeader, []ItemResult, error) {
	h, rs, err := loadResultsReadOnly(path)
	if err != nil {
		return nil, nil, err
	}
	last := map[string]int{}
	for i, r := range rs {
		last[r.ID] = i
	}
	out := make([]ItemResult, 0, len(last))
	for i, r := range rs {
		if last[r.ID] == i {
			out = append(out, r)
		}
	}
	return h, out, nil
}

func loadResultsReadOnly(path string) (*ResultsHeader, []ItemResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read results: %w", err)
	}
	defer f.Close()
	var h *ResultsHeader
	var out []ItemResult
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		if line == 1 && bytes.Contains(b, []byte(`"sgde_results"`)) {
			h = new(ResultsHeader)
			if err := json.Unmarshal(b, h); err != nil {
				return nil, nil, fmt.Errorf("read results %s: bad header: %w", path, err)
			}
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var r ItemResult
		if err := dec.Decode(&r); err != nil || r.ID == "" {
			continue // a torn line: not a result
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("read results %s: %w", path, err)
	}
	return h, out, nil
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

// InfrastructureErr returns an error when some items failed for reasons outside the plan (the
// endpoint, the cache, the toolchain; see Infrastructure): their results say nothing about the
// plan, so the accuracy is not the plan's, and a command should not exit 0. It is nil otherwise.
func (r *EvalReport) InfrastructureErr() error {
	var parts []string
	n := 0
	for kind, k := range r.ErrorKinds {
		if Infrastructure(kind) {
			n += k
			parts = append(parts, fmt.Sprintf("%s %d", kind, k))
		}
	}
	if n == 0 {
		return nil
	}
	sort.Strings(parts)
	return fmt.Errorf("%d of %d items failed for reasons outside the plan (%s), so the accuracy above is not the plan's; fix the cause and run them again with --resume", n, r.Accuracy.N, strings.Join(parts, ", "))
}
