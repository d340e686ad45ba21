package serve

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus series, on a private registry so that two servers in one
// process (tests) never collide. Plan labels only ever hold names of loaded plans ("-" for
// anything else), so a client cannot grow the label space.
type metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	nodeErrs  *prometheus.CounterVec
	fuel      *prometheus.CounterVec
	tokens    *prometheus.CounterVec
	rejected  *prometheus.CounterVec
	inFlight  *prometheus.GaugeVec
	plans     prometheus.Gauge
	reloads   *prometheus.CounterVec
	codeCalls *prometheus.CounterVec
	// stateErrors counts requests whose shared quota store failed, by operation and by what
	// the server did (closed: refused; open: local limits).
	stateErrors *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sgde_serve_requests_total", Help: "API requests by tenant, plan, endpoint and HTTP status.",
		}, []string{"tenant", "plan", "endpoint", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sgde_serve_request_duration_seconds", Help: "API request latency by tenant, plan and endpoint.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"tenant", "plan", "endpoint"}),
		nodeErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sgde_serve_node_errors_total", Help: "Failed plan runs by tenant, plan and error class (runtime error kind).",
		}, []string{"tenant", "plan", "kind"}),
		fuel: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sgde_serve_fuel_used_total", Help: "Fuel used by code-node calls on engines that meter fuel.",
		}, []string{"tenant", "plan"}),
		codeCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sgde_serve_code_calls_total", Help: "Code-node calls by tenant and plan.",
		}, []string{"tenant", "plan"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sgde_serve_student_tokens_total", Help: "Student tokens used by tenant and plan.",
		}, []string{"tenant", "plan"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sgde_serve_rejected_total", Help: "Requests refused by a quota, by tenant and reason (rate, quota, concurrency, state_unavailable).",
		}, []string{"tenant", "reason"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sgde_serve_in_flight", Help: "Plan runs in flight by tenant.",
		}, []string{"tenant"}),
		plans: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sgde_serve_plans_loaded", Help: "Plans in the served set.",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sgde_serve_reloads_total", Help: "Reloads of the plans folder by result (ok, error).",
		}, []string{"result"}),
		stateErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sgde_serve_state_errors_total", Help: "Requests whose shared quota store (Redis) failed, by operation (admit, acquire) and action (closed: refused with 503; open: local limits).",
		}, []string{"op", "action"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.nodeErrs, m.fuel, m.codeCalls, m.tokens, m.rejected, m.inFlight,
		m.plans, m.reloads, m.stateErrors, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
