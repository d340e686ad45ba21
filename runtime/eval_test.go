package runtime_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/llm"
	"github.com/sgde-project/sgde/runtime/metric"
	"github.com/sgde-project/sgde/runtime/trace"
)

// evalStudent answers "Q: N" with N+1 except for a few items that get garbage or an error.
func evalStudent() *student {
	return &student{answer: func(req llm.Request) (string, error) {
		q := strings.TrimPrefix(lastUser(req), "Q: ")
		switch {
		case strings.HasSuffix(q, "7"):
			return "I cannot say", nil
		case strings.HasSuffix(q, "3"):
			return "", fmt.Errorf("%w: 400", llm.ErrRejected)
		}
		var n int
		fmt.Sscan(q, &n)
		return fmt.Sprint(n + 1), nil
	}}
}

func evalItems(n int) []runtime.Item {
	items := make([]runtime.Item, n)
	for i := range items {
		// The plan doubles the student's answer: correct when the label is 2*(i+1); every
		// fifth label is wrong on purpose.
		label := json.Number(fmt.Sprint(2 * (i + 1)))
		if i%5 == 4 {
			label = "0"
		}
		items[i] = runtime.Item{ID: fmt.Sprintf("item-%02d", i), Inputs: map[string]any{"question": fmt.Sprint(i)}, Label: label}
	}
	return items
}

func readResults(t *testing.T, path string) []runtime.ItemResult {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []runtime.ItemResult
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r runtime.ItemResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("bad results line %q: %v", sc.Text(), err)
		}
		if r.ID == "" && strings.Contains(sc.Text(), `"sgde_results"`) {
			continue // the header
		}
		r.LatencyMS = 0
		out = append(out, r)
	}
	// A later line for an id (an item run again on resume) supersedes earlier ones.
	last := map[string]runtime.ItemResult{}
	for _, r := range out {
		last[r.ID] = r
	}
	out = out[:0]
	for _, r := range last {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func TestEvalCountsErrorsAndGoesOn(t *testing.T) {
	r := newRunner(t, evalStudent(), 4)
	prog, err := r.Prepare(mustPlan(t, planLinear))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "results.jsonl")
	rep, err := runtime.Eval(context.Background(), prog, evalItems(20), metric.Numeric{RelTol: metric.DefaultRelTol},
		runtime.EvalOptions{ResultsPath: path, Exclude: map[string]bool{"item-00": true}})
	if err != nil {
		t.Fatal(err)
	}
	// 20 items: 3, 13 rejected; 7, 17 unparseable; of the other 16, items 4, 9, 14, 19 have
	// wrong labels.
	if rep.Accuracy.N != 20 || rep.Accuracy.Correct != 12 || rep.Errors != 4 {
		t.Errorf("report = %+v", rep)
	}
	if rep.ErrorKinds[runtime.KindParse] != 2 || rep.ErrorKinds[runtime.KindStudentRejected] != 2 || rep.ParseFailureRate != 0.1 {
		t.Errorf("error kinds = %v, parse rate %v", rep.ErrorKinds, rep.ParseFailureRate)
	}
	if rep.Subset == nil || rep.Subset.N != 19 || rep.Subset.Correct != 11 {
		t.Errorf("subset = %+v", rep.Subset)
	}
	if rep.Accuracy.CI95Low >= 0.6 || rep.Accuracy.CI95High <= 0.6 {
		t.Errorf("CI %+v does not contain the accuracy", rep.Accuracy)
	}
	if rep.CallsPerItem < 1 || rep.TokensPerItem == 0 {
		t.Errorf("calls %v tokens %v per item", rep.CallsPerItem, rep.TokensPerItem)
	}
	if got := readResults(t, path); len(got) != 20 {
		t.Errorf("%d results on disk", len(got))
	}
	// Without --resume an existing file is never overwritten.
	if _, err := runtime.Eval(context.Background(), prog, evalItems(20), metric.Exact{}, runtime.EvalOptions{ResultsPath: path}); err == nil {
		t.Error("existing results file silently reused")
	}
}

func TestEvalResumeAfterInterrupt(t *testing.T) {
	items := evalItems(40)
	m := metric.Numeric{RelTol: metric.DefaultRelTol}
	dir := t.TempDir()

	// Reference: one uninterrupted eval.
	ref := filepath.Join(dir, "ref.jsonl")
	prog, _ := newRunner(t, evalStudent(), 4).Prepare(mustPlan(t, planLinear))
	want, err := runtime.Eval(context.Background(), prog, items, m, runtime.EvalOptions{ResultsPath: ref})
	if err != nil {
		t.Fatal(err)
	}

	// Interrupted eval: cancel after 10 items finish.
	path := filepath.Join(dir, "results.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	var done atomic.Int64
	rep, err := runtime.Eval(ctx, prog, items, m, runtime.EvalOptions{ResultsPath: path, Concurrency: 3,
		Progress: func(n, _ int) {
			if done.Store(int64(n)); n >= 10 {
				cancel()
			}
		}})
	if !errors.Is(err, context.Canceled) || !rep.Interrupted {
		t.Fatalf("err = %v, interrupted %v", err, rep.Interrupted)
	}
	partial := readResults(t, path)
	if len(partial) < 10 || len(partial) >= 40 {
		t.Fatalf("%d results kept after interruption", len(partial))
	}
	// Tear the last line as a crash mid-write would.
	data, _ := os.ReadFile(path)
	os.WriteFile(path, append(data, []byte(`{"id":"item-39","inp`)...), 0o644)

	got, err := runtime.Eval(context.Background(), prog, items, m, runtime.EvalOptions{ResultsPath: path, Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	kept := 0
	for _, r := range partial {
		if !runtime.Infrastructure(r.ErrorKind) {
			kept++
		}
	}
	if got.Resumed != kept || got.Rerun != len(partial)-kept {
		t.Errorf("resumed %d, rerun %d, want %d and %d", got.Resumed, got.Rerun, kept, len(partial)-kept)
	}
	if got.Accuracy != want.Accuracy || fmt.Sprint(got.ErrorKinds) != fmt.Sprint(want.ErrorKinds) {
		t.Errorf("resumed report %+v differs from uninterrupted %+v", got, want)
	}
	a, b := readResults(t, ref), readResults(t, path)
	if len(a) != len(b) {
		t.Fatalf("%d results after resume, want %d", len(b), len(a))
	}
	for i := range a {
		ja, _ := json.Marshal(a[i])
		jb, _ := json.Marshal(b[i])
		if string(ja) != string(jb) {
			t.Errorf("result %d differs:\n%s\n%s", i, ja, jb)
		}
	}
}

func TestReadItems(t *testing.T) {
	p := mustPlan(t, planLinear)
	data := `{"idx": 5, "input": "q1", "target": 3431580.0}

{"idx": 9, "input": "q2", "target": -2.5}
`
	items, err := runtime.ReadItems(strings.NewReader(data), p, runtime.Fields{Input: "input", Label: "target", ID: "idx"})
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || items[0].ID != "5" || items[1].Inputs["question"] != "q2" || fmt.Sprint(items[0].Label) != "3431580.0" {
		t.Errorf("items = %+v", items)
	}
	// No id field: positions.
	items, err = runtime.ReadItems(strings.NewReader(`{"input":"a","target":1}`+"\n"+`{"input":"b","target":2}`), p, runtime.Fields{Input: "input", Label: "target", ID: "idx"})
	if err != nil || items[1].ID != "1" {
		t.Errorf("items = %+v, %v", items, err)
	}
	for _, bad := range []string{`{"input":"a"}`, `{"target":1}`, `not json`, `{"idx":1,"input":"a","target":1}` + "\n" + `{"input":"b","target":2}`,
		`{"idx":1,"input":"a","target":1}` + "\n" + `{"idx":1,"input":"b","target":2}`,
		`{"idx":1,"input":"a","target":1}` + "\n" + `{"idx":"1","input":"b","target":2}`} {
		if _, err := runtime.ReadItems(strings.NewReader(bad), p, runtime.Fields{Input: "input", Label: "target", ID: "idx"}); err == nil || !strings.Contains(err.Error(), "line") {
			t.Errorf("%q: err = %v, want an error naming the line", bad, err)
		}
	}
}

func TestReadSuspects(t *testing.T) {
	f, err := os.Open("../testdata/gsm-hard/suspect-labels.json")
	if err != nil {
		t.Skip("testdata/gsm-hard/suspect-labels.json absent")
	}
	defer f.Close()
	s, err := runtime.ReadSuspects(f)
	if err != nil || !s["0"] || s["description"] {
		t.Fatalf("suspects = %v, %v", len(s), err)
	}
}

func TestEvalRefusesSharedResultsFile(t *testing.T) {
	s := constant("1")
	s.delay = 50 * time.Millisecond
	prog, _ := newRunner(t, s, 4).Prepare(mustPlan(t, planLinear))
	path := filepath.Join(t.TempDir(), "r.jsonl")
	errc := make(chan error, 1)
	go func() {
		_, err := runtime.Eval(context.Background(), prog, evalItems(8), metric.Exact{}, runtime.EvalOptions{ResultsPath: path, Concurrency: 1})
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	_, err := runtime.Eval(context.Background(), prog, evalItems(8), metric.Exact{}, runtime.EvalOptions{ResultsPath: path, Resume: true})
	if err == nil || !strings.Contains(err.Error(), "in use by another eval") {
		t.Errorf("second eval on the same file: err = %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestEvalInMemory(t *testing.T) {
	prog, _ := newRunner(t, evalStudent(), 4).Prepare(mustPlan(t, planLinear))
	var got []runtime.ItemResult
	rep, err := runtime.Eval(context.Background(), prog, evalItems(10), metric.Numeric{RelTol: metric.DefaultRelTol},
		runtime.EvalOptions{OnResult: func(r runtime.ItemResult, tr *trace.Run) {
			if tr == nil || tr.ID != r.ID {
				t.Errorf("trace %v for result %s", tr, r.ID)
			}
			got = append(got, r)
		}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 10 || rep.Accuracy.N != 10 {
		t.Errorf("%d results, report n %d", len(got), rep.Accuracy.N)
	}
}

// A failure of a stop kind ends the eval with a *StopError naming the item; other failures are
// charged to the plan and the eval goes on.
func TestEvalStopKinds(t *testing.T) {
	prog, err := newRunner(t, evalStudent(), 4).Prepare(mustPlan(t, planLinear))
	if err != nil {
		t.Fatal(err)
	}
	items := evalItems(40)
	var seen atomic.Int64
	rep, err := runtime.Eval(context.Background(), prog, items, metric.Exact{}, runtime.EvalOptions{
		Concurrency: 1, StopKinds: map[string]bool{runtime.KindStudentRejected: true},
		OnResult: func(runtime.ItemResult, *trace.Run) { seen.Add(1) },
	})
	var se *runtime.StopError
	if !errors.As(err, &se) || se.Item != "item-03" || runtime.KindOf(err) != runtime.KindStudentRejected {
		t.Fatalf("err = %v (%T), want a StopError on item-03 of kind %s", err, err, runtime.KindStudentRejected)
	}
	// One worker: items 0-3 ran (item 3 is the rejected one), nothing after it.
	if rep == nil || !rep.Interrupted || rep.Accuracy.N != 4 || seen.Load() != 4 {
		t.Errorf("report %+v, %d results seen; want 4 results and Interrupted", rep, seen.Load())
	}
	// Parse failures (item 7) are not a stop kind: the eval goes on past them.
	rep, err = runtime.Eval(context.Background(), prog, items, metric.Exact{}, runtime.EvalOptions{
		StopKinds: map[string]bool{runtime.KindCacheMiss: true}})
	if err != nil || rep.Accuracy.N != 40 {
		t.Errorf("err %v, n %d", err, rep.Accuracy.N)
	}
}

// EvalFunc accepts any way of running the plan; CallsNeeded counts llm executions.
func TestEvalFuncCallsNeeded(t *testing.T) {
	run := func(_ context.Context, in map[string]any) (*runtime.RunResult, error) {
		tr := &trace.Run{Calls: 0, Nodes: []*trace.Node{{ID: "a", Substrate: "llm", Attempts: 2, Cached: true}, {ID: "c", Substrate: "code"},
			{ID: "v", Substrate: "consensus", Consensus: &trace.Consensus{Samples: []trace.Sample{{Nodes: []*trace.Node{{ID: "m", Substrate: "llm"}}}, {Nodes: []*trace.Node{{ID: "m", Substrate: "llm"}}}}}}}}
		return &runtime.RunResult{Output: in["question"], Trace: tr}, nil
	}
	var got []runtime.ItemResult
	rep, err := runtime.EvalFunc(context.Background(), "fake", run, evalItems(3), metric.Exact{}, runtime.EvalOptions{
		OnResult: func(r runtime.ItemResult, _ *trace.Run) { got = append(got, r) }})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Plan != "fake" || len(got) != 3 || got[0].CallsNeeded != 4 || got[0].Calls != 0 {
		t.Errorf("report %+v results %+v: want 4 calls needed (2 attempts + 2 consensus samples), 0 sent", rep, got)
	}
}

// A compile task's mapping: several inputs from named fields, other fields never read, and a
// named id field required in every record.
func TestReadItemsTaskMapping(t *testing.T) {
	f := runtime.Fields{Inputs: map[string]string{"question": "input", "context": "ctx"}, Label: "target", ID: "idx", StrictID: true}
	items, err := runtime.ReadItems(strings.NewReader(`{"idx": 3, "input": "q?", "ctx": "c", "code": "secret", "target": 1.5}`+"\n"+`{"idx": "a", "input": "r?", "ctx": "d", "target": 2}`), nil, f)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || items[0].ID != "3" || items[1].ID != "a" || len(items[0].Inputs) != 2 || items[0].Inputs["context"] != "c" {
		t.Errorf("items = %+v", items)
	}
	for _, bad := range []string{`{"input": "a", "ctx": "c", "target": 1}`, `{"idx": 1, "input": "a", "target": 1}`, `null`} {
		if _, err := runtime.ReadItems(strings.NewReader(bad), nil, f); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}
