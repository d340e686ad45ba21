package serve

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	oteltrace "go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/trace"
)

// Defaults of Options.
const (
	DefaultMaxBodyBytes = 1 << 20
	DefaultRunTimeout   = 60 * time.Second
	DefaultMaxN         = 8
	DefaultDrainTimeout = 30 * time.Second
)

// RunnerFactory builds the runner of one tenant for one sandbox engine (a name EngineFor
// returned): its own engine instance, response cache and student client, never shared with
// another tenant (a tenant's runners of two engines may share its cache and client). release
// frees what it built. It is called once per tenant and engine, on the tenant's first run of a
// plan on that engine.
type RunnerFactory func(ctx context.Context, tenant, engine string) (r *runtime.Runner, release func(), err error)

// EngineChooser names the sandbox engine a plan's code nodes run on. An error (the plan asks
// for an engine this build lacks) fails the load of the plans folder that holds the plan.
type EngineChooser func(p *plans.Plan) (string, error)

// Options configures a Server. New copies it.
type Options struct {
	// PlansDir is the folder of plan files served (every *.yaml, *.yml and *.json in it).
	PlansDir string
	// Tenants says who may call what. Required.
	Tenants *Tenants
	// NewRunner builds a tenant's runner for an engine. Required.
	NewRunner RunnerFactory
	// EngineFor chooses each plan's engine when the plans folder is (re)loaded, so that a plan
	// no runner can serve is refused before any call; nil means the engine "" for every plan.
	EngineFor EngineChooser
	// SeparateOps leaves /metrics out of Handler: the caller serves OpsHandler (metrics and
	// health probes) on a private listener, so that tenants who reach the API cannot read every
	// tenant's metrics. /healthz and /readyz stay on Handler for load balancers.
	SeparateOps bool
	// Logger receives one structured line per request and the server's events; nil discards.
	Logger *slog.Logger
	// MaxBodyBytes bounds a request body; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// RunTimeout bounds one request's plan runs; 0 means DefaultRunTimeout.
	RunTimeout time.Duration
	// MaxN bounds the n of a chat completion; 0 means DefaultMaxN.
	MaxN int
	// TracerProvider receives a span per API request, per plan run and per executed node
	// (OpenTelemetry); nil means none. The caller owns it (exporter, shutdown).
	TracerProvider oteltrace.TracerProvider
	// DrainTimeout bounds how long Serve waits for in-flight requests after its context ends;
	// 0 means DefaultDrainTimeout.
	DrainTimeout time.Duration
	// Quotas counts the tenants' rates, quotas and requests in flight; nil means in this process
	// only. A shared Quotas (OpenRedis) makes the limits hold across replicas.
	Quotas Quotas
	// QuotasFailOpen applies this process's own quotas while a shared Quotas is unavailable;
	// by default such requests are refused with 503 and Retry-After (fail closed).
	QuotasFailOpen bool
	// PreparePlan, when set, is called for every plan with code nodes each time the plans
	// folder is loaded (by New and by Reload), with the engine EngineFor chose, before the new
	// set is served: it builds the plan's code nodes (runtime.BuildCode), so that a plan whose
	// code does not build is refused (New fails, Reload keeps the old set) and no first request
	// waits for a build. /readyz is not ready before New returns, so never before the builds.
	PreparePlan func(ctx context.Context, p *plans.Plan, engine string) error
	// BodyTimeout bounds the time a client takes to send a request body; 0 means
	// DefaultBodyTimeout.
	BodyTimeout time.Duration
	// MaxUnauthConns caps connections that have not yet carried an authenticated request; 0
	// means DefaultMaxUnauthConns.
	MaxUnauthConns int
	// NoStudent says no student endpoint is configured: a plan with llm nodes could only fail,
	// so loading one fails (New refuses to start, Reload keeps the old set) with a message
	// naming the plan.
	NoStudent bool
}

// Server serves plans to tenants. Its methods are safe for concurrent use.
type Server struct {
	opts     Options
	log      *slog.Logger
	m        *metrics
	states   map[*Tenant]*tenantState
	plans    atomic.Pointer[planSet]
	closing  atomic.Bool
	reloadMu sync.Mutex
	handler  http.Handler
	ops      http.Handler
	tracer   oteltrace.Tracer
	gate     *connGate
	quotas   Quotas       // Options.Quotas, else local
	local    *localQuotas // the fallback of a shared Quotas that fails open
}

// tenantState is what a tenant owns on this server. Nothing in it is shared with another tenant.
type tenantState struct {
	t *Tenant

	mu      sync.Mutex
	runners map[string]*tenantRunner // by engine name
	closed  bool
	gen     *planSet                    // the plan set progs were prepared from
	progs   map[string]*runtime.Program // by plan name, with the tenant's ceilings applied
}

// tenantRunner is a tenant's runner for one engine.
type tenantRunner struct {
	r       *runtime.Runner
	release func()
}

// New loads the plans folder and returns a server for it.
func New(opts Options) (*Server, error) {
	if opts.Tenants == nil || opts.NewRunner == nil {
		return nil, errors.New("serve: Tenants and NewRunner are required")
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.RunTimeout <= 0 {
		opts.RunTimeout = DefaultRunTimeout
	}
	if opts.MaxN <= 0 {
		opts.MaxN = DefaultMaxN
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = DefaultDrainTimeout
	}
	if opts.BodyTimeout <= 0 {
		opts.BodyTimeout = DefaultBodyTimeout
	}
	if opts.MaxUnauthConns <= 0 {
		opts.MaxUnauthConns = DefaultMaxUnauthConns
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ps, err := loadPlans(opts.PlansDir, opts.EngineFor)
	if err != nil {
		return nil, err
	}
	if err := preparePlans(context.Background(), log, ps, opts); err != nil {
		return nil, err
	}
	tp := opts.TracerProvider
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	s := &Server{opts: opts, log: log, m: newMetrics(), states: map[*Tenant]*tenantState{}, gate: newConnGate(opts.MaxUnauthConns),
		tracer: tp.Tracer("github.com/sgde-project/sgde/internal/serve")}
	for _, t := range opts.Tenants.list {
		s.states[t] = &tenantState{t: t, runners: map[string]*tenantRunner{}}
	}
	s.local = newLocalQuotas(opts.Tenants, time.Now)
	s.quotas = opts.Quotas
	if s.quotas == nil {
		s.quotas = s.local
	}
	if c, ok := opts.Quotas.(prometheus.Collector); ok {
		// The shared store's health and cache counts; one store per server in sgde serve.
		if err := s.m.reg.Register(c); err != nil {
			return nil, fmt.Errorf("serve: register the quota store's metrics: %w", err)
		}
	}
	s.plans.Store(ps)
	s.m.plans.Set(float64(len(ps.names)))
	s.handler, s.ops = s.routes(), s.opsRoutes()
	return s, nil
}

// Handler returns the server's API handler: the /v1 API, /healthz and /readyz, and /metrics
// unless Options.SeparateOps is set.
func (s *Server) Handler() http.Handler { return s.handler }

// OpsHandler returns the handler of the operations listener: /metrics, /healthz and /readyz,
// none authenticated. Serve it on an address only operators reach.
func (s *Server) OpsHandler() http.Handler { return s.ops }

// probes adds the health and readiness probes to mux, and the answer to unknown URLs.
func (s *Server) probes(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if s.closing.Load() || s.plans.Load() == nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready"})
			return
		}
		if s.opts.Quotas != nil {
			if err := s.quotas.Check(r.Context()); err != nil {
				// Failing closed, this replica would refuse every request: take it out of the
				// load balancer. Failing open it still serves, under its own limits.
				if !s.opts.QuotasFailOpen {
					writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "state": "unavailable", "reason": err.Error()})
					return
				}
				writeJSON(w, http.StatusOK, map[string]string{"status": "ready", "state": "unavailable: local limits", "reason": err.Error()})
				return
			}
			writeJSON(w, http.StatusOK, map[string]string{"status": "ready", "state": "ok"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	// Any other URL outside /v1 (/v1 has its own, authenticated, answer) is the OpenAI-shaped
	// 404 the clients understand, not net/http's text.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errUnknownURL(r))
	})
}

func (s *Server) opsRoutes() http.Handler {
	mux := http.NewServeMux()
	s.probes(mux)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{}))
	return mux
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	s.probes(mux)
	if !s.opts.SeparateOps {
		mux.Handle("GET /metrics", promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{}))
	}
	mux.Handle("GET /v1/models", s.api("models", s.listModels))
	mux.Handle("GET /v1/models/{model}", s.api("models", s.getModel))
	mux.Handle("GET /v1/plans", s.api("plans", s.listPlans))
	mux.Handle("POST /v1/plans/{name}/run", s.api("run", s.runPlan))
	mux.Handle("POST /v1/chat/completions", s.api("chat", s.chat))
	mux.Handle("/v1/", s.api("other", func(_ http.ResponseWriter, r *http.Request, _ *call) *apiError {
		return errUnknownURL(r)
	}))
	return mux
}

// call is what one API request did, for its metrics and log line.
type call struct {
	id       string
	endpoint string
	tenant   *Tenant
	state    *tenantState
	plan     string // a loaded plan's name, else "-"
	status   int
	kind     string
}

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func newID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// api wraps an authenticated API handler: request id, authentication, the rate quota, panics,
// metrics and the request's log line.
func (s *Server) api(endpoint string, h func(http.ResponseWriter, *http.Request, *call) *apiError) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		c := &call{endpoint: endpoint, plan: "-", status: http.StatusOK}
		if id := r.Header.Get("X-Request-Id"); requestIDPattern.MatchString(id) {
			c.id = id
		} else {
			c.id = newID()
		}
		w.Header().Set("X-Request-Id", c.id)
		// A caller's W3C traceparent makes the request span its child.
		ctx := propagation.TraceContext{}.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := s.tracer.Start(ctx, r.Pattern, oteltrace.WithSpanKind(oteltrace.SpanKindServer))
		r = r.WithContext(ctx)
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic serving request", "request_id", c.id, "panic", fmt.Sprint(v))
				c.status, c.kind = http.StatusInternalServerError, runtime.KindInternal
				writeError(w, &apiError{status: c.status, Type: "server_error", Code: c.kind, Message: "internal error (request " + c.id + ")"})
			}
			s.finish(r, c, time.Since(start))
			tenant := "-"
			if c.tenant != nil {
				tenant = c.tenant.name
			}
			span.SetAttributes(attribute.String("sgde.request_id", c.id), attribute.String("sgde.tenant", tenant),
				attribute.String("sgde.plan", c.plan), attribute.Int("http.response.status_code", c.status))
			if c.status >= 400 {
				span.SetStatus(codes.Error, c.kind)
			}
			span.End()
		}()
		err := s.authenticate(r, c)
		if err == nil {
			s.gate.authenticated(r)
			err = h(w, r, c)
		}
		if err != nil {
			// Refused from the headers (the body is never read) or while reading it: never
			// wait for the rest of a body before answering.
			refuseBody(w, r)
			c.status = err.status
			if c.kind == "" {
				c.kind = err.Code
			}
			writeError(w, err)
		}
	})
}

func (s *Server) authenticate(r *http.Request, c *call) *apiError {
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return errNoKey
	}
	t := s.opts.Tenants.Authenticate(strings.TrimSpace(key))
	if t == nil {
		return errNoKey
	}
	c.tenant, c.state = t, s.states[t]
	d, err := s.quotas.Admit(r.Context(), t)
	if err != nil {
		if !s.opts.QuotasFailOpen {
			return s.stateDown(t, "admit", err)
		}
		s.m.stateErrors.WithLabelValues("admit", "open").Inc()
		d, _ = s.local.Admit(r.Context(), t)
	}
	if !d.OK {
		s.m.rejected.WithLabelValues(t.name, d.Reason).Inc()
		if d.Reason == ReasonQuota {
			return &apiError{status: http.StatusTooManyRequests, Type: "rate_limit_error", Code: "insufficient_quota",
				Message: fmt.Sprintf("tenant quota (%d requests per %s) used up", t.quota, t.quotaWindow), retryAfter: retryAfterSeconds(d.Wait)}
		}
		return &apiError{status: http.StatusTooManyRequests, Type: "rate_limit_error", Code: "rate_limit_exceeded",
			Message: fmt.Sprintf("tenant request rate quota (%g/s) exceeded", t.rate), retryAfter: retryAfterSeconds(d.Wait)}
	}
	return nil
}

// stateDown is the answer to a request whose quotas cannot be counted, failing closed.
func (s *Server) stateDown(t *Tenant, op string, err error) *apiError {
	s.m.stateErrors.WithLabelValues(op, "closed").Inc()
	s.m.rejected.WithLabelValues(t.name, "state_unavailable").Inc()
	s.log.Warn("quota state unavailable: refusing", "tenant", t.name, "op", op, "err", err.Error())
	return &apiError{status: http.StatusServiceUnavailable, Type: "server_error", Code: "quota_state_unavailable",
		Message: "the quota store is unavailable; retry later", retryAfter: 1}
}

func (s *Server) finish(r *http.Request, c *call, d time.Duration) {
	tenant := "-"
	if c.tenant != nil {
		tenant = c.tenant.name
	}
	s.m.requests.WithLabelValues(tenant, c.plan, c.endpoint, strconv.Itoa(c.status)).Inc()
	s.m.latency.WithLabelValues(tenant, c.plan, c.endpoint).Observe(d.Seconds())
	level := slog.LevelInfo
	if c.status >= 500 {
		level = slog.LevelError
	}
	attrs := []slog.Attr{slog.String("request_id", c.id), slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.String("tenant", tenant), slog.String("plan", c.plan), slog.Int("status", c.status),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000)}
	if c.kind != "" {
		attrs = append(attrs, slog.String("error_kind", c.kind))
	}
	s.log.LogAttrs(r.Context(), level, "request", attrs...)
}

// program returns the tenant's prepared program for the plan called name. A plan that does not
// exist and one not granted are the same 404.
func (s *Server) program(ctx context.Context, c *call, name string) (*runtime.Program, string, *apiError) {
	ps := s.plans.Load()
	p := ps.byName[name]
	if p == nil || !c.tenant.Grants(name) {
		return nil, "", errNotFound(name)
	}
	c.plan = name
	st := c.state
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed {
		return nil, "", errShuttingDown
	}
	if st.gen != ps {
		st.gen, st.progs = ps, map[string]*runtime.Program{}
	}
	if prog := st.progs[name]; prog != nil {
		return prog, ps.digests[name], nil
	}
	engine := ps.engines[name]
	tr := st.runners[engine]
	if tr == nil {
		r, release, err := s.opts.NewRunner(ctx, st.t.name, engine)
		if err != nil {
			s.log.Error("cannot start the tenant's runner", "tenant", st.t.name, "engine", engine, "err", err.Error())
			return nil, "", &apiError{status: http.StatusInternalServerError, Type: "server_error", Code: runtime.KindInternal,
				Message: "cannot start a runner for this tenant; the operator has the details"}
		}
		tr = &tenantRunner{r: r, release: release}
		st.runners[engine] = tr
	}
	cp, err := clampPlan(p, st.t.fuel, st.t.memoryMiB)
	if err == nil {
		var prog *runtime.Program
		if prog, err = tr.r.Prepare(cp); err == nil {
			st.progs[name] = prog
			return prog, ps.digests[name], nil
		}
	}
	s.log.Error("cannot prepare plan", "tenant", st.t.name, "plan", name, "err", err.Error())
	return nil, "", &apiError{status: http.StatusInternalServerError, Type: "server_error", Code: runtime.KindPlan,
		Message: fmt.Sprintf("plan %q cannot run: %v", name, err)}
}

// runs runs prog n times under the tenant's concurrency quota and the run timeout.
func (s *Server) runs(ctx context.Context, c *call, prog *runtime.Program, inputs map[string]any, n int) ([]*runtime.RunResult, *apiError) {
	release, ok, err := s.quotas.Acquire(ctx, c.tenant)
	if err != nil {
		if !s.opts.QuotasFailOpen {
			return nil, s.stateDown(c.tenant, "acquire", err)
		}
		s.m.stateErrors.WithLabelValues("acquire", "open").Inc()
		release, ok, _ = s.local.Acquire(ctx, c.tenant)
	}
	if !ok {
		s.m.rejected.WithLabelValues(c.tenant.name, "concurrency").Inc()
		return nil, &apiError{status: http.StatusTooManyRequests, Type: "rate_limit_error", Code: "concurrency_limit_exceeded",
			Message: fmt.Sprintf("tenant concurrency quota (%d requests in flight) exceeded", c.tenant.concurrency), retryAfter: 1}
	}
	defer release()
	g := s.m.inFlight.WithLabelValues(c.tenant.name)
	g.Inc()
	defer g.Dec()
	ctx, cancel := context.WithTimeout(ctx, s.opts.RunTimeout)
	defer cancel()
	out := make([]*runtime.RunResult, 0, n)
	for i := range n {
		rctx, span := s.tracer.Start(ctx, "sgde.run "+c.plan, oteltrace.WithAttributes(
			attribute.String("sgde.plan", c.plan), attribute.Int("sgde.choice", i)))
		res, err := prog.Run(rctx, inputs)
		if res != nil && res.Trace != nil {
			s.account(c, res.Trace)
			span.SetAttributes(attribute.Int("sgde.student_calls", res.Trace.Calls),
				attribute.Int("sgde.tokens", res.Trace.Tokens.Total), attribute.Int("sgde.nodes", len(res.Trace.Nodes)))
			if span.IsRecording() {
				s.nodeSpans(rctx, res.Trace.Nodes, -1)
			}
		}
		if err != nil {
			span.SetStatus(codes.Error, runtime.KindOf(err))
			span.SetAttributes(attribute.String("sgde.error_kind", runtime.KindOf(err)))
		}
		span.End()
		if err != nil {
			e := runError(ctx, err)
			c.kind = e.Code
			if e.status != http.StatusBadRequest {
				s.m.nodeErrs.WithLabelValues(c.tenant.name, c.plan, e.Code).Inc()
			}
			return nil, e
		}
		out = append(out, res)
	}
	return out, nil
}

// account adds a run's fuel, code calls and tokens to the tenant's metrics.
func (s *Server) account(c *call, run *trace.Run) {
	var fuel uint64
	var calls int
	var walk func([]*trace.Node)
	walk = func(ns []*trace.Node) {
		for _, n := range ns {
			if n.Code != nil {
				calls++
				if n.Code.Metered {
					fuel += n.Code.Fuel
				}
			}
			if n.Consensus != nil {
				for _, smp := range n.Consensus.Samples {
					walk(smp.Nodes)
				}
			}
			if n.Route != nil && n.Route.Run != nil {
				walk(n.Route.Run.Nodes)
			}
		}
	}
	walk(run.Nodes)
	if fuel > 0 {
		s.m.fuel.WithLabelValues(c.tenant.name, c.plan).Add(float64(fuel))
	}
	if calls > 0 {
		s.m.codeCalls.WithLabelValues(c.tenant.name, c.plan).Add(float64(calls))
	}
	if run.Tokens.Total > 0 {
		s.m.tokens.WithLabelValues(c.tenant.name, c.plan).Add(float64(run.Tokens.Total))
	}
}

// Reload reads the plans folder again, builds its code nodes (Options.PreparePlan) and swaps
// the served set atomically. When any plan is invalid, cannot run without a student, or has
// code that does not build, the old set stays and the error is returned (and logged).
func (s *Server) Reload() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	ps, err := loadPlans(s.opts.PlansDir, s.opts.EngineFor)
	if err == nil {
		err = preparePlans(context.Background(), s.log, ps, s.opts)
	}
	if err != nil {
		s.m.reloads.WithLabelValues("error").Inc()
		s.log.Error("reload failed; still serving the previous plans", "err", err.Error())
		return err
	}
	s.plans.Store(ps)
	s.m.plans.Set(float64(len(ps.names)))
	s.m.reloads.WithLabelValues("ok").Inc()
	s.log.Info("plans reloaded", "plans", strings.Join(ps.names, ","))
	return nil
}

// Serve serves Handler on ln until ctx ends, then stops accepting connections and waits up to
// the drain timeout for requests in flight (their plan runs finish) before returning. The
// caller then calls Close.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	return s.ServeWithOps(ctx, ln, nil)
}

// ServeWithOps is Serve that also serves OpsHandler on ops (none when nil). While the API
// drains, the operations listener keeps answering (readiness says 503, metrics stay
// scrapeable); then it stops too. When either listener fails, both stop and the error is
// returned.
func (s *Server) ServeWithOps(ctx context.Context, api, ops net.Listener) error {
	newHTTP := func(h http.Handler) *http.Server {
		return &http.Server{
			Handler:           h,
			ReadHeaderTimeout: HeaderTimeout,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		}
	}
	type served struct {
		what string
		err  error
	}
	errc := make(chan served, 2)
	apiHS := newHTTP(s.handler)
	// The API listener admits a bounded number of connections that have not authenticated.
	apiHS.ConnState, apiHS.ConnContext = s.gate.connState, s.gate.connContext
	go func() { errc <- served{"api", apiHS.Serve(api)} }()
	running := 1
	var opsHS *http.Server
	if ops != nil {
		opsHS = newHTTP(s.ops)
		running++
		go func() { errc <- served{"ops", opsHS.Serve(ops)} }()
		s.log.Info("serving operations", "addr", ops.Addr().String(), "paths", "/metrics /healthz /readyz")
	}
	s.log.Info("serving", "addr", api.Addr().String(), "plans", len(s.plans.Load().names), "tenants", s.opts.Tenants.Len(),
		"metrics_on_api", !s.opts.SeparateOps)
	var errs []error
	select {
	case r := <-errc:
		running--
		errs = append(errs, fmt.Errorf("%s listener: %w", r.what, r.err))
		s.log.Error("a listener failed: stopping", "listener", r.what, "err", r.err.Error())
	case <-ctx.Done():
	}
	s.closing.Store(true)
	s.log.Info("shutting down: draining requests in flight", "timeout", s.opts.DrainTimeout.String())
	shutdown := func(hs *http.Server) error {
		dctx, cancel := context.WithTimeout(context.Background(), s.opts.DrainTimeout)
		defer cancel()
		err := hs.Shutdown(dctx)
		if err != nil {
			hs.Close()
		}
		return err
	}
	if err := shutdown(apiHS); err != nil {
		errs = append(errs, fmt.Errorf("drain: %w", err))
	}
	if opsHS != nil {
		if err := shutdown(opsHS); err != nil {
			errs = append(errs, fmt.Errorf("drain ops listener: %w", err))
		}
	}
	for ; running > 0; running-- {
		if r := <-errc; r.err != nil && !errors.Is(r.err, http.ErrServerClosed) {
			errs = append(errs, fmt.Errorf("%s listener: %w", r.what, r.err))
		}
	}
	return errors.Join(errs...)
}

// Close releases every tenant's runner. Requests must not be in flight.
func (s *Server) Close(ctx context.Context) {
	s.closing.Store(true)
	for _, st := range s.states {
		st.mu.Lock()
		for engine, tr := range st.runners {
			tr.r.Close(ctx)
			if tr.release != nil {
				tr.release()
			}
			delete(st.runners, engine)
		}
		st.progs = nil
		st.closed = true
		st.mu.Unlock()
	}
}

// granted returns the names of the current plans the tenant may call, sorted.
func (s *Server) granted(t *Tenant) (*planSet, []string) {
	ps := s.plans.Load()
	var out []string
	for _, n := range ps.names {
		if t.Grants(n) {
			out = append(out, n)
		}
	}
	return ps, out
}

func describeInputs(p *plans.Plan) string {
	parts := make([]string, len(p.Inputs))
	for i, in := range p.Inputs {
		parts[i] = fmt.Sprintf("%s (%s)", in.Name, in.Type)
	}
	return strings.Join(parts, ", ")
}
