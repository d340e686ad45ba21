package runtime_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/cache"
	"github.com/sgde-project/sgde/runtime/llm"
	"github.com/sgde-project/sgde/runtime/llm/llmtest"
	"github.com/sgde-project/sgde/runtime/metric"
	"github.com/sgde-project/sgde/runtime/trace"
)

var numeric = metric.Numeric{RelTol: metric.DefaultRelTol}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// paddedStudent is evalStudent with long replies, so that a few answers fill a small cache.
func paddedStudent() *student {
	inner := evalStudent()
	return &student{answer: func(req llm.Request) (string, error) {
		a, err := inner.answer(req)
		return strings.Repeat("thinking ", 300) + a, err
	}}
}

// TestEvalCacheFullKeepsAnswers is a full disk under the response cache: every answer must
// still be used (same report as without a cache), the failure logged once and counted.
func TestEvalCacheFullKeepsAnswers(t *testing.T) {
	items := evalItems(20)
	prog, _ := newRunner(t, paddedStudent(), 4).Prepare(mustPlan(t, planLinear))
	want, err := runtime.Eval(context.Background(), prog, items, numeric, runtime.EvalOptions{})
	if err != nil {
		t.Fatal(err)
	}

	path := filepath.Join(t.TempDir(), "r.db")
	c, err := cache.Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	st, _ := os.Stat(path)
	c, err = cache.Open(path, time.Second, cache.WithMaxSize(int(st.Size())))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var log syncBuffer
	r, err := runtime.New(runtime.Options{Student: paddedStudent(), Model: "fake", Cache: c, CacheMode: cache.ModeUse,
		Engine: &fakeEngine{}, Builder: &fakeBuilder{}, Log: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	prog, _ = r.Prepare(mustPlan(t, planLinear))
	got, err := runtime.Eval(context.Background(), prog, items, numeric, runtime.EvalOptions{ResultsPath: filepath.Join(t.TempDir(), "res.jsonl")})
	if err != nil {
		t.Fatal(err)
	}
	if got.Accuracy != want.Accuracy || fmt.Sprint(got.ErrorKinds) != fmt.Sprint(want.ErrorKinds) {
		t.Errorf("with a full cache: accuracy %+v kinds %v; without a cache %+v %v", got.Accuracy, got.ErrorKinds, want.Accuracy, want.ErrorKinds)
	}
	if got.CacheWriteErrors == 0 {
		t.Error("cache write errors not counted")
	}
	if n := strings.Count(log.String(), "cannot store answers"); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, log.String())
	}
}

// flakyStudent fails every item whose question ends in 1 with ErrUnavailable while down is set.
func flakyStudent(down *atomic.Bool) *student {
	inner := evalStudent()
	return &student{answer: func(req llm.Request) (string, error) {
		if down.Load() && strings.HasSuffix(lastUser(req), "1") {
			return "", fmt.Errorf("%w: 503", llm.ErrUnavailable)
		}
		return inner.answer(req)
	}}
}

// TestEvalResumeRerunsInfrastructureFailures: items that failed because the endpoint was down
// are not "done"; resume runs them again and ends where a fault-free eval ends.
func TestEvalResumeRerunsInfrastructureFailures(t *testing.T) {
	items := evalItems(30)
	var down atomic.Bool
	prog, _ := newRunner(t, flakyStudent(&down), 4).Prepare(mustPlan(t, planLinear))
	want, err := runtime.Eval(context.Background(), prog, items, numeric, runtime.EvalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "res.jsonl")
	down.Store(true)
	first, err := runtime.Eval(context.Background(), prog, items, numeric, runtime.EvalOptions{ResultsPath: path})
	if err != nil {
		t.Fatal(err)
	}
	failed := first.ErrorKinds[runtime.KindStudentUnavailable]
	if failed == 0 {
		t.Fatal("the outage failed nothing")
	}
	down.Store(false)
	got, err := runtime.Eval(context.Background(), prog, items, numeric, runtime.EvalOptions{ResultsPath: path, Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	// Items 3, 13 and 23 are rejected by the student (4xx): also rerun, and rejected again.
	if got.Accuracy != want.Accuracy || fmt.Sprint(got.ErrorKinds) != fmt.Sprint(want.ErrorKinds) {
		t.Errorf("after resume: %+v %v, fault-free %+v %v", got.Accuracy, got.ErrorKinds, want.Accuracy, want.ErrorKinds)
	}
	if got.Rerun != failed+want.ErrorKinds[runtime.KindStudentRejected] || got.Resumed != 30-got.Rerun {
		t.Errorf("rerun %d resumed %d, want %d rerun", got.Rerun, got.Resumed, failed+want.ErrorKinds[runtime.KindStudentRejected])
	}
	if rs := readResults(t, path); len(rs) != 30 {
		t.Errorf("%d distinct results on disk", len(rs))
	}
}

const planOther = `
apiVersion: sgde/v1
kind: Plan
metadata: {name: linear}
inputs:
  - {name: question, type: string}
output: solve
nodes:
  - id: solve
    substrate: llm
    llm:
      prompt: "Q: {{ inputs.question }}"
      parser: {type: number}
`

// TestEvalResumeRefusesOtherProvenance: a results file records what produced it, and resume
// refuses to continue it with anything that changes answers or scores.
func TestEvalResumeRefusesOtherProvenance(t *testing.T) {
	r := newRunner(t, evalStudent(), 4)
	prog, _ := r.Prepare(mustPlan(t, planLinear))
	other, _ := r.Prepare(mustPlan(t, planOther))
	base := runtime.EvalOptions{DataDigest: "d1", Settings: map[string]string{"student_model": "m"}}
	relabeled := evalItems(10)
	relabeled[2].Label = "999"
	tests := []struct {
		name  string
		prog  *runtime.Program
		items []runtime.Item
		m     metric.Metric
		opts  func(o *runtime.EvalOptions)
	}{
		{"other plan with the same name", other, nil, nil, nil},
		{"other metric", nil, nil, metric.Exact{}, nil},
		{"other tolerance", nil, nil, metric.Numeric{RelTol: 0.1}, nil},
		{"other data", nil, nil, nil, func(o *runtime.EvalOptions) { o.DataDigest = "d2" }},
		{"other student", nil, nil, nil, func(o *runtime.EvalOptions) { o.Settings = map[string]string{"student_model": "m2"} }},
		{"new setting", nil, nil, nil, func(o *runtime.EvalOptions) {
			o.Settings = map[string]string{"student_model": "m", "label_field": "answer"}
		}},
		{"changed label", nil, relabeled, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "res.jsonl")
			o := base
			o.ResultsPath = path
			if _, err := runtime.Eval(context.Background(), prog, evalItems(10), numeric, o); err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadFile(path)
			p, items, m := prog, evalItems(10), metric.Metric(numeric)
			if tt.prog != nil {
				p = tt.prog
			}
			if tt.items != nil {
				items = tt.items
			}
			if tt.m != nil {
				m = tt.m
			}
			o.Resume = true
			if tt.opts != nil {
				tt.opts(&o)
			}
			rep, err := runtime.Eval(context.Background(), p, items, m, o)
			if !errors.Is(err, runtime.ErrProvenance) {
				t.Fatalf("resume accepted: err = %v, report %+v", err, rep)
			}
			after, _ := os.ReadFile(path)
			if !bytes.Equal(before, after) {
				t.Error("the refused resume changed the results file")
			}
		})
	}
	// The same eval resumes fine.
	path := filepath.Join(t.TempDir(), "res.jsonl")
	o := base
	o.ResultsPath = path
	if _, err := runtime.Eval(context.Background(), prog, evalItems(10), numeric, o); err != nil {
		t.Fatal(err)
	}
	o.Resume = true
	if rep, err := runtime.Eval(context.Background(), prog, evalItems(10), numeric, o); err != nil || rep.Resumed+rep.Rerun != 10 {
		t.Fatalf("same eval: %v, %+v", err, rep)
	}
	// A results file from before headers existed is refused too: nothing says what made it.
	old := filepath.Join(t.TempDir(), "old.jsonl")
	os.WriteFile(old, []byte(`{"id":"item-00","input":{"question":"0"},"label":2,"prediction":2,"correct":true,"student_calls":1,"tokens":1,"latency_ms":1}`+"\n"), 0o644)
	o.ResultsPath = old
	if _, err := runtime.Eval(context.Background(), prog, evalItems(10), numeric, o); !errors.Is(err, runtime.ErrProvenance) {
		t.Fatalf("headerless file: err = %v", err)
	}
}

// fullDisk accepts limit bytes, then fails every write with ENOSPC.
type fullDisk struct {
	w     io.Writer
	mu    sync.Mutex
	left  int
	fails int
}

func (d *fullDisk) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(p) > d.left {
		d.fails++
		n, _ := d.w.Write(p[:d.left]) // a torn line, as a real full disk leaves
		d.left = 0
		return n, &os.PathError{Op: "write", Path: "results", Err: syscall.ENOSPC}
	}
	d.left -= len(p)
	return d.w.Write(p)
}

// TestEvalStopsOnResultsWriteError: once results cannot be written the eval stops sending
// requests, keeps what it wrote, and fails; resume then completes it.
func TestEvalStopsOnResultsWriteError(t *testing.T) {
	items := evalItems(40)
	s := evalStudent()
	s.delay = 2 * time.Millisecond
	prog, _ := newRunner(t, s, 4).Prepare(mustPlan(t, planLinear))
	path := filepath.Join(t.TempDir(), "res.jsonl")
	restore := runtime.SetResultsWrapper(func(w io.Writer) io.Writer { return &fullDisk{w: w, left: 2500} })
	rep, err := runtime.Eval(context.Background(), prog, items, numeric, runtime.EvalOptions{ResultsPath: path, Concurrency: 2})
	restore()
	if err == nil || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("err = %v, want the write error", err)
	}
	if rep == nil || !rep.Interrupted {
		t.Fatalf("report = %+v, want an interrupted report", rep)
	}
	kept := readResultsLenient(t, path)
	if len(kept) == 0 || len(kept) != rep.Accuracy.N {
		t.Errorf("%d results kept on disk, report says %d", len(kept), rep.Accuracy.N)
	}
	// Stopped promptly: at most the items in flight when the write failed were run beyond it.
	if calls := int(s.calls.Load()); calls > len(kept)+2+2 {
		t.Errorf("%d student calls for %d kept results: the eval went on after the write error", calls, len(kept))
	}
	got, err := runtime.Eval(context.Background(), prog, items, numeric, runtime.EvalOptions{ResultsPath: path, Resume: true})
	if err != nil || got.Accuracy.N != 40 {
		t.Fatalf("resume after freeing the disk: %v, %+v", err, got)
	}
}

func readResultsLenient(t *testing.T, path string) []runtime.ItemResult {
	t.Helper()
	_, rs, err := runtime.ReadResults(path)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

type failingWriter struct{ after atomic.Int64 }

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.after.Add(-1) < 0 {
		return 0, syscall.EIO
	}
	return len(p), nil
}

// TestEvalTracesWriteErrorKeepsResults: a traces file that fails does not stop the results.
func TestEvalTracesWriteErrorKeepsResults(t *testing.T) {
	prog, _ := newRunner(t, evalStudent(), 4).Prepare(mustPlan(t, planLinear))
	path := filepath.Join(t.TempDir(), "res.jsonl")
	fw := &failingWriter{}
	fw.after.Store(3)
	rep, err := runtime.Eval(context.Background(), prog, evalItems(20), numeric,
		runtime.EvalOptions{ResultsPath: path, Traces: trace.NewWriter(fw)})
	if err == nil || !strings.Contains(err.Error(), "traces") {
		t.Fatalf("err = %v, want a traces error", err)
	}
	if rep == nil || rep.Accuracy.N != 20 {
		t.Fatalf("report %+v", rep)
	}
	if rs := readResults(t, path); len(rs) != 20 {
		t.Errorf("%d results written, want 20", len(rs))
	}
}

// TestEvalAccounting: requests of calls that ran out of retries count; retries and cache hits
// are reported apart; plan-level calls per item are the same cold and warm.
func TestEvalAccounting(t *testing.T) {
	srv := llmtest.NewServer()
	defer srv.Close()
	srv.Answer = func(llmtest.Request) string { return "41" }
	client, err := llm.New(llm.NewConfig(srv.BaseURL(), "m").WithRetries(2).WithBackoff(time.Millisecond, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.Open(filepath.Join(t.TempDir(), "r.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := runtime.New(runtime.Options{Student: client, Cache: c, Engine: &fakeEngine{}, Builder: &fakeBuilder{}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	prog, _ := r.Prepare(mustPlan(t, planOther))
	items := evalItems(5)

	// Every request fails: 5 items x 3 requests each (plan retries 0, client retries 2).
	srv.Always(llmtest.ServerError)
	down, err := runtime.Eval(context.Background(), prog, items, numeric, runtime.EvalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if down.Requests != srv.Calls() || down.Requests != 15 || down.Retries != 10 {
		t.Errorf("endpoint down: requests %d retries %d, server saw %d (want 15 and 10)", down.Requests, down.Retries, srv.Calls())
	}
	if int64(srv.Calls()) != client.Sent() {
		t.Errorf("client counted %d requests, server saw %d", client.Sent(), srv.Calls())
	}

	// One 500 then answers: cold run.
	srv.Always(llmtest.None)
	srv.Script(llmtest.ServerError)
	seen := srv.Calls()
	cold, err := runtime.Eval(context.Background(), prog, items, numeric, runtime.EvalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cold.Requests != srv.Calls()-seen || cold.Requests != 6 || cold.Retries != 1 || cold.CacheHits != 0 || cold.PlanCallsPerItem != 1 {
		t.Errorf("cold: %+v (server saw %d)", cold, srv.Calls()-seen)
	}
	// Warm: everything from the cache, plan-level calls unchanged.
	warm, err := runtime.Eval(context.Background(), prog, items, numeric, runtime.EvalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if warm.Requests != 0 || warm.CacheHits != 5 || warm.PlanCallsPerItem != cold.PlanCallsPerItem || warm.Retries != 0 {
		t.Errorf("warm: %+v", warm)
	}
}
