package serve

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/llm"
	"github.com/sgde-project/sgde/runtime/trace"
)

func TestRequestSpans(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	s := newTestServer(t, Options{NewRunner: noRunner(t), TracerProvider: tp})
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	req := httptest.NewRequest("GET", "/v1/models", nil)
	req.Header.Set("Authorization", "Bearer "+aliceKey)
	req.Header.Set("traceparent", parent)
	s.Handler().ServeHTTP(httptest.NewRecorder(), req)
	do(t, s.Handler(), "POST", "/v1/plans/bob-secret/run", aliceKey, `{"inputs":{}}`)

	spans := sr.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2", len(spans))
	}
	attrs := func(sp sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
		m := map[attribute.Key]attribute.Value{}
		for _, kv := range sp.Attributes() {
			m[kv.Key] = kv.Value
		}
		return m
	}
	a, b := spans[0], spans[1]
	if a.Name() != "GET /v1/models" || a.Parent().TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("first span %q, parent %v: want GET /v1/models under the caller's trace", a.Name(), a.Parent().TraceID())
	}
	if m := attrs(a); m["sgde.tenant"].AsString() != "alice" || m["http.response.status_code"].AsInt64() != 200 {
		t.Errorf("first span attributes %v", m)
	}
	if b.Name() != "POST /v1/plans/{name}/run" || b.Status().Code != codes.Error || attrs(b)["http.response.status_code"].AsInt64() != 404 {
		t.Errorf("second span %q %v %v", b.Name(), b.Status(), attrs(b))
	}
	if attrs(b)["sgde.plan"].AsString() != "-" {
		t.Error("a hidden plan's name reached the span's plan label")
	}
}

// fakeStudent answers every llm request with reply after delay.
type fakeStudent struct {
	delay time.Duration
	reply func(prompt string) string
}

func (f fakeStudent) Complete(ctx context.Context, req llm.Request) (llm.Response, error) {
	select {
	case <-time.After(f.delay):
	case <-ctx.Done():
		return llm.Response{}, ctx.Err()
	}
	return llm.Response{Text: f.reply(req.Messages[len(req.Messages)-1].Content), Attempts: 1,
		Usage: llm.Usage{PromptTokens: 10, CompletionTokens: 2, TotalTokens: 12}}, nil
}

// TestNodeSpans runs a plan with an llm node feeding a code node: the run span gets one child
// span per node, in the run's trace, with the node's attributes, and times that nest in the run
// and follow the plan's order. A failing node's span carries the error.
func TestNodeSpans(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	student := fakeStudent{delay: 3 * time.Millisecond, reply: func(p string) string {
		if strings.Contains(p, "fail") {
			return "no idea"
		}
		return "The answer is 21."
	}}
	factory, _ := realFactoryWith(t, student, nil)
	s := newTestServer(t, Options{PlansDir: "testdata/mixed", NewRunner: factory, TracerProvider: tp})
	if r := do(t, s.Handler(), "POST", "/v1/plans/mixed/run", bobKey, `{"inputs":{"question":"ok"}}`); r.status != 200 || r.json(t)["output"] != json.Number("42") {
		t.Fatalf("run: %d %s", r.status, r.body)
	}
	spans := sr.Ended()
	byName := map[string]sdktrace.ReadOnlySpan{}
	for _, sp := range spans {
		byName[sp.Name()] = sp
	}
	run, solve, double := byName["sgde.run mixed"], byName["sgde.node solve"], byName["sgde.node double"]
	if len(spans) != 4 || run == nil || solve == nil || double == nil || byName["POST /v1/plans/{name}/run"] == nil {
		t.Fatalf("spans %v, want the request, the run and its two nodes", spanNames(spans))
	}
	for _, n := range []sdktrace.ReadOnlySpan{solve, double} {
		if n.Parent().SpanID() != run.SpanContext().SpanID() || n.SpanContext().TraceID() != run.SpanContext().TraceID() {
			t.Errorf("%s: parent %v, want the run span %v", n.Name(), n.Parent().SpanID(), run.SpanContext().SpanID())
		}
		if n.StartTime().Before(run.StartTime()) || n.EndTime().After(run.EndTime()) || !n.EndTime().After(n.StartTime()) {
			t.Errorf("%s [%v, %v] is not a span inside the run [%v, %v]", n.Name(), n.StartTime(), n.EndTime(), run.StartTime(), run.EndTime())
		}
		if n.Status().Code == codes.Error {
			t.Errorf("%s: status %v on a successful run", n.Name(), n.Status())
		}
	}
	if d := solve.EndTime().Sub(solve.StartTime()); d < student.delay {
		t.Errorf("solve lasted %v, less than the student's %v", d, student.delay)
	}
	if double.StartTime().Before(solve.EndTime()) {
		t.Errorf("double starts at %v, before solve, its input, ends at %v", double.StartTime(), solve.EndTime())
	}
	wantAttrs := func(sp sdktrace.ReadOnlySpan, want map[string]any) {
		t.Helper()
		got := spanAttrs(sp)
		for k, v := range want {
			if g, ok := got[attribute.Key(k)]; !ok || g.AsInterface() != v {
				t.Errorf("%s: %s = %v, want %v (all: %v)", sp.Name(), k, g.AsInterface(), v, got)
			}
		}
	}
	wantAttrs(solve, map[string]any{"sgde.node": "solve", "sgde.substrate": "llm", "sgde.student_calls": int64(1),
		"sgde.tokens": int64(12), "sgde.cache_hit": false, "sgde.attempts": int64(1)})
	wantAttrs(double, map[string]any{"sgde.node": "double", "sgde.substrate": "code", "sgde.code.engine": "wazero",
		"sgde.code.metered": true})
	if fuel := spanAttrs(double)["sgde.code.fuel"].AsInt64(); fuel <= 0 {
		t.Errorf("double: fuel %d, want the fuel the metered call used", fuel)
	}
	for _, k := range []attribute.Key{"sgde.error_kind", "sgde.student_calls"} {
		if _, ok := spanAttrs(double)[k]; ok {
			t.Errorf("double has %s", k)
		}
	}

	// The student's reply has no number: solve fails, double never runs.
	sr2 := len(sr.Ended())
	if r := do(t, s.Handler(), "POST", "/v1/plans/mixed/run", bobKey, `{"inputs":{"question":"fail"}}`); r.status != 422 {
		t.Fatalf("failing run: %d %s", r.status, r.body)
	}
	spans = sr.Ended()[sr2:]
	byName = map[string]sdktrace.ReadOnlySpan{}
	for _, sp := range spans {
		byName[sp.Name()] = sp
	}
	run, solve = byName["sgde.run mixed"], byName["sgde.node solve"]
	if len(spans) != 3 || run == nil || solve == nil {
		t.Fatalf("spans of the failing run %v, want the request, the run and solve", spanNames(spans))
	}
	if solve.Parent().SpanID() != run.SpanContext().SpanID() || solve.Status().Code != codes.Error || solve.Status().Description != runtime.KindParse {
		t.Errorf("failed solve: parent %v status %v", solve.Parent().SpanID(), solve.Status())
	}
	wantAttrs(solve, map[string]any{"sgde.error_kind": runtime.KindParse})
}

// TestNoNodeSpansWithoutTracer checks that a server without a tracer provider runs the same
// plan: node spans are only made for a recording run span.
func TestNoNodeSpansWithoutTracer(t *testing.T) {
	factory, _ := realFactoryWith(t, fakeStudent{reply: func(string) string { return "7" }}, nil)
	s := newTestServer(t, Options{PlansDir: "testdata/mixed", NewRunner: factory})
	if r := do(t, s.Handler(), "POST", "/v1/plans/mixed/run", bobKey, `{"inputs":{"question":"ok"}}`); r.status != 200 || r.json(t)["output"] != json.Number("14") {
		t.Fatalf("run: %d %s", r.status, r.body)
	}
}

func spanNames(spans []sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, sp := range spans {
		out = append(out, sp.Name())
	}
	return out
}

func spanAttrs(sp sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range sp.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

// TestConsensusNodeSpans converts a consensus node's trace: one span for the node, with the
// student calls and tokens of all its samples, and one child span per member execution, tagged
// with its sample. A node without a start time (an older trace) gets no span.
func TestConsensusNodeSpans(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	s := newTestServer(t, Options{NewRunner: noRunner(t), TracerProvider: tp})
	t0 := time.Now()
	member := func(i int, kind string) *trace.Node {
		return &trace.Node{ID: "solve", Substrate: "llm", Start: t0.Add(time.Duration(i+1) * time.Millisecond), LatencyMS: 2,
			Attempts: 1, Calls: 1, Tokens: &trace.Tokens{Total: 10}, Cached: i == 1, ErrorKind: kind, Error: kind}
	}
	nodes := []*trace.Node{
		{ID: "vote", Substrate: "consensus", Start: t0, LatencyMS: 5, Attempts: 1, Consensus: &trace.Consensus{N: 2,
			Samples: []trace.Sample{{Index: 0, Nodes: []*trace.Node{member(0, "")}}, {Index: 1, Nodes: []*trace.Node{member(1, runtime.KindParse)}}}}},
		{ID: "old", Substrate: "llm", LatencyMS: 1},
	}
	ctx, run := s.tracer.Start(context.Background(), "run", oteltrace.WithTimestamp(t0))
	s.nodeSpans(ctx, nodes, -1)
	run.End(oteltrace.WithTimestamp(t0.Add(6 * time.Millisecond)))
	byName := map[string][]sdktrace.ReadOnlySpan{}
	for _, sp := range sr.Ended() {
		byName[sp.Name()] = append(byName[sp.Name()], sp)
	}
	if len(byName["sgde.node vote"]) != 1 || len(byName["sgde.node solve"]) != 2 || len(byName["sgde.node old"]) != 0 {
		t.Fatalf("spans %v", spanNames(sr.Ended()))
	}
	vote := byName["sgde.node vote"][0]
	if a := spanAttrs(vote); a["sgde.student_calls"].AsInt64() != 2 || a["sgde.tokens"].AsInt64() != 20 || a["sgde.consensus.n"].AsInt64() != 2 {
		t.Errorf("vote attributes %v", a)
	}
	if got := vote.EndTime().Sub(vote.StartTime()); got != 5*time.Millisecond {
		t.Errorf("vote lasts %v, want 5ms", got)
	}
	for i, sp := range byName["sgde.node solve"] {
		a := spanAttrs(sp)
		if sp.Parent().SpanID() != vote.SpanContext().SpanID() || a["sgde.sample"].AsInt64() != int64(i) || a["sgde.cache_hit"].AsBool() != (i == 1) {
			t.Errorf("member span %d: parent %v attributes %v", i, sp.Parent().SpanID(), a)
		}
		if failed := sp.Status().Code == codes.Error; failed != (i == 1) {
			t.Errorf("member span %d: status %v", i, sp.Status())
		}
	}
}
