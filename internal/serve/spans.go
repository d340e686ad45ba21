package serve

import (
	"context"
	"math"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/sgde-project/sgde/runtime/trace"
)

// nodeSpans records one span per executed node of a finished run, children of the run span in
// ctx, from the run's trace: the runtime knows nothing of OpenTelemetry, and its trace already
// holds each node's start, latency and usage. Consensus members become children of their
// consensus node's span, one per sample.
func (s *Server) nodeSpans(ctx context.Context, nodes []*trace.Node, sample int) {
	for _, n := range nodes {
		if n == nil || n.Start.IsZero() {
			continue
		}
		attrs := []attribute.KeyValue{
			attribute.String("sgde.node", n.ID),
			attribute.String("sgde.substrate", n.Substrate),
			attribute.Int("sgde.attempts", n.Attempts),
		}
		if sample >= 0 {
			attrs = append(attrs, attribute.Int("sgde.sample", sample))
		}
		calls, tokens := nodeUsage(n)
		switch {
		case n.Code != nil:
			attrs = append(attrs, attribute.String("sgde.code.engine", n.Code.Engine),
				attribute.Bool("sgde.code.metered", n.Code.Metered),
				attribute.Int64("sgde.code.peak_memory_bytes", clampInt64(n.Code.PeakMemoryBytes)))
			if n.Code.Metered {
				attrs = append(attrs, attribute.Int64("sgde.code.fuel", clampInt64(n.Code.Fuel)))
			}
		case n.Substrate != "code":
			attrs = append(attrs, attribute.Int("sgde.student_calls", calls), attribute.Int("sgde.tokens", tokens))
			if n.Consensus == nil {
				attrs = append(attrs, attribute.Bool("sgde.cache_hit", n.Cached))
			} else {
				attrs = append(attrs, attribute.Int("sgde.consensus.n", n.Consensus.N))
			}
		}
		start := n.Start
		end := start.Add(time.Duration(math.Round(n.LatencyMS*1000)) * time.Microsecond)
		nctx, span := s.tracer.Start(ctx, "sgde.node "+n.ID, oteltrace.WithTimestamp(start), oteltrace.WithAttributes(attrs...))
		if n.Failed() {
			span.SetAttributes(attribute.String("sgde.error_kind", n.ErrorKind))
			span.SetStatus(codes.Error, n.ErrorKind)
		}
		if n.Consensus != nil {
			for _, smp := range n.Consensus.Samples {
				s.nodeSpans(nctx, smp.Nodes, smp.Index)
			}
		}
		if n.Route != nil && n.Route.Run != nil {
			span.SetAttributes(attribute.String("sgde.route.branch", n.Route.Branch), attribute.Bool("sgde.route.defaulted", n.Route.Defaulted))
			s.nodeSpans(nctx, n.Route.Run.Nodes, sample)
		}
		span.End(oteltrace.WithTimestamp(end))
	}
}

// nodeUsage returns the student calls and tokens of a node, its consensus members included.
func nodeUsage(n *trace.Node) (calls, tokens int) {
	calls = n.Calls
	if n.Tokens != nil {
		tokens = n.Tokens.Total
	}
	if n.Consensus != nil {
		for _, smp := range n.Consensus.Samples {
			for _, m := range smp.Nodes {
				c, t := nodeUsage(m)
				calls, tokens = calls+c, tokens+t
			}
		}
	}
	if n.Route != nil && n.Route.Run != nil {
		for _, m := range n.Route.Run.Nodes {
			c, t := nodeUsage(m)
			calls, tokens = calls+c, tokens+t
		}
	}
	return calls, tokens
}

func clampInt64(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}
