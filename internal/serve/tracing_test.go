package serve

import (
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
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
