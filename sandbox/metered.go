package sandbox

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/sandbox/internal/rewrite"
	"github.com/sgde-project/sgde/wasm/abi"
)

// Defaults of the metered wazero engine.
const (
	// DefaultMaxCallDepth bounds live guest function activations (rewrite.StackLimit). Deep
	// enough for any interpreter a node needs, shallow enough that wazero's native stack stays a
	// few MiB. Go guests seldom reach it: growing a goroutine stack unwinds the wasm stack, so
	// Go recursion usually stops at the SDK's 8 MiB goroutine-stack cap first.
	DefaultMaxCallDepth = 20_000
)

// fuelSlice is how much of its budget a metered call holds at a time. When a slice is spent,
// the guest's fuel check calls out_of_fuel, and the host looks at the call's deadline and
// context, yields the thread to other goroutines, and hands out the next slice. A slice is about
// a millisecond of guest work here: the granularity of Limits.Timeout, at a cost of one host
// call per slice.
const fuelSlice = 1 << 20

// errStopped is what out_of_fuel panics with when the call's deadline has passed or its context
// ended: the call stops at that fuel check.
var errStopped = errors.New("call stopped at a fuel check")

// maxRewriteCache bounds how many rewritten modules the engine keeps by digest.
const maxRewriteCache = 64

// newMeteredWazero returns the wazero engine of MeterFuel, the default: deterministic fuel
// metering and a call-depth limit. Load rewrites each module with sandbox/internal/rewrite (MergeData, Meter, StackLimit) before
// compiling it; Call sets Limits.Fuel (plans.DefaultFuel when 0) and reports the fuel used exactly in
// Usage.Fuel with Usage.Metered true. Running out of fuel returns ErrFuelExhausted, exceeding
// the call depth ErrStackOverflow.
//
// # Notes
//
//   - The runtime does not use WithCloseOnContextDone: fuel bounds every call. A call holds its
//     budget in slices of about a millisecond of work; between slices the host checks
//     Limits.Timeout and the caller's context (ErrTimeout or the context's error) and lets
//     other goroutines run, since compiled guest code cannot be preempted by the Go scheduler.
//   - Modules that already import sgde.out_of_fuel or export sgde_fuel are refused
//     (ErrInvalidModule): a guest must not bring its own meter.
//   - The same module and input give the same output and the same fuel on every call and
//     machine.
func newMeteredWazero(ctx context.Context, opts []Option) (Engine, error) {
	return newUncapped(ctx, true, opts)
}

// newTrustedWazero returns the wazero engine of MeterNone: neither fuel metering nor
// WithCloseOnContextDone, the cheapest way to run a module, for benchmarking trusted code only.
// Modules are rewritten with MergeData alone, so that comparing this engine with the metered
// one isolates the cost of metering.
//
// # Notes
//
//   - Nothing bounds a call's CPU: a guest that never ends never returns, whatever
//     Limits.Timeout or the caller's context say, and stalls the host's garbage collector.
//     Never run untrusted code on it.
func newTrustedWazero(ctx context.Context, opts []Option) (Engine, error) {
	return newUncapped(ctx, false, opts)
}

// newUncapped starts a runtime without WithCloseOnContextDone, metered or not.
func newUncapped(ctx context.Context, meter bool, opts []Option) (Engine, error) {
	base, err := newWazeroBase(ctx, "new metered wazero engine", false, opts, func(hb wazero.HostModuleBuilder) wazero.HostModuleBuilder {
		return hb.NewFunctionBuilder().WithGoFunction(api.GoFunc(func(ctx context.Context, _ []uint64) {
			if m, ok := ctx.Value(callKey{}).(*callState); ok && m.meter != nil {
				m.meter.refill(ctx)
				return
			}
			panic(rewrite.ErrOutOfFuel) // a caller that set the fuel itself (a snapshot's init)
		}), nil, nil).Export(abi.OutOfFuel).
			NewFunctionBuilder().WithFunc(func(context.Context) { panic(rewrite.ErrStackOverflow) }).Export(abi.StackOverflow)
	})
	if err != nil {
		return nil, err
	}
	pipeline := rewrite.NewPipeline().WithMergeData(rewrite.DefaultMergeGap)
	if meter {
		pipeline = pipeline.WithMeter(0).WithStackLimit(DefaultMaxCallDepth)
	}
	return &meteredEngine{base: base, meter: meter, pipeline: pipeline, rewrites: map[[32]byte][]byte{}}, nil
}

// trapClockKey, in a call's context, carries a *time.Time that out_of_fuel sets when it runs:
// benchmarks use it to time the way from fuel exhaustion to the returned error.
type trapClockKey struct{}

// meteredEngine is the wazero engine (same runtime setup, host functions, allocator and
// classifier) running modules rewritten for fuel and call depth, without WithCloseOnContextDone.
type meteredEngine struct {
	base     *wazeroEngine
	meter    bool // false: MeterNone
	pipeline rewrite.Pipeline

	mu       sync.Mutex
	rewrites map[[32]byte][]byte // digest of the original -> rewritten module
}

func (e *meteredEngine) Name() plans.EngineName { return plans.EngineWazero }

func (e *meteredEngine) Close(ctx context.Context) error { return e.base.Close(ctx) }

// Load rewrites wasm (once per digest; the compiled code is cached by the runtime) and
// compiles it. Errors are those of the unmetered engine's Load; a module the rewriter refuses
// is ErrInvalidModule. A reactor module (it exports _initialize and abi.ReactorEntry instead of
// _start) is pre-initialised once and served from a pool of restored instances (pooled.go).
func (e *meteredEngine) Load(ctx context.Context, wasm []byte) (Module, error) {
	if len(wasm) > e.base.cfg.maxModuleBytes {
		return nil, fmt.Errorf("%w: module is %d bytes, the limit is %d", ErrInvalidModule, len(wasm), e.base.cfg.maxModuleBytes)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	digest := sha256.Sum256(wasm)
	e.mu.Lock()
	rewritten, ok := e.rewrites[digest]
	e.mu.Unlock()
	if !ok {
		checked, err := checkStructure(wasm)
		if err != nil {
			return nil, err
		}
		rewritten, err = e.pipeline.Rewrite(checked)
		if err != nil {
			return nil, fmt.Errorf("%w: meter: %s", ErrInvalidModule, truncateMessage(err.Error()))
		}
		e.mu.Lock()
		if len(e.rewrites) >= maxRewriteCache {
			clear(e.rewrites)
		}
		e.rewrites[digest] = rewritten
		e.mu.Unlock()
	}
	if e.meter && isReactor(rewritten) {
		return e.loadReactor(ctx, rewritten)
	}
	m, err := e.base.load(ctx, rewritten)
	if err != nil || !e.meter {
		return m, err
	}
	return &meteredModule{wazeroModule: m.(*wazeroModule)}, nil
}

// meteredModule is a compiled, rewritten module. It shares the unmetered module's Close.
type meteredModule struct {
	*wazeroModule
}

// Call instantiates the module afresh without running it, sets its fuel, runs _start and reads
// the fuel left. On error the Result still carries Usage, Stdout and Stderr. When ctx itself
// ends, Call returns ctx's error (not a limit error).
func (m *meteredModule) Call(ctx context.Context, input []byte, lim Limits) (res Result, err error) {
	c, release, err := startMeteredCall(ctx, m.e, input, lim, m.minPages)
	if err != nil {
		return res, err
	}
	defer release()
	// As in the unmetered engine, except that nothing runs at instantiation: the host sets the
	// fuel first, then calls _start.
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithStdout(c.stdout).
		WithStderr(c.stderr).
		WithStartFunctions()
	start := time.Now()
	out := m.run(c.ctx, cfg, c.state.meter)
	return c.finish(ctx, out, time.Since(start))
}

// meteredCall is the host side of one metered call, shared by fresh and pooled instances.
type meteredCall struct {
	ctx            context.Context // carries the call state, the allocator and the timeout
	cancel         context.CancelFunc
	lim            Limits
	state          *callState
	alloc          *limitedAllocator
	stdout, stderr *cappedWriter
}

// startMeteredCall checks lim against the engine and the module's initial memory, waits for a
// slot and prepares the call. The caller calls release when done.
func startMeteredCall(ctx context.Context, e *wazeroEngine, input []byte, lim Limits, minPages uint32) (*meteredCall, func(), error) {
	lim = lim.withDefaults()
	// plans.MaxFuel is far below 2^62, where sgde_fuel (an i64 charged up to 2^26 at once)
	// could wrap.
	if lim.Fuel > plans.MaxFuel {
		return nil, nil, fmt.Errorf("call: fuel %d exceeds the maximum of %d", lim.Fuel, uint64(plans.MaxFuel))
	}
	if lim.MemoryMiB > e.cfg.maxMemoryMiB {
		return nil, nil, fmt.Errorf("call: memory limit %d MiB exceeds the engine maximum of %d MiB", lim.MemoryMiB, e.cfg.maxMemoryMiB)
	}
	limitPages := lim.MemoryMiB * 16
	if minPages > limitPages {
		return nil, nil, fmt.Errorf("%w: initial memory of %d pages (%d KiB) exceeds the limit of %d MiB", ErrMemoryLimit, minPages, minPages*64, lim.MemoryMiB)
	}
	if uint64(len(input)) > 1<<32-1 {
		return nil, nil, fmt.Errorf("call: input of %d bytes is too large", len(input))
	}
	select {
	case e.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("call: %w", ctx.Err())
	}
	wasi := newWASIState(lim.MaxOutputBytes)
	c := &meteredCall{
		lim:    lim,
		state:  &callState{wasi: wasi, input: input, out: callOutput{max: lim.MaxOutputBytes}, meter: newFuelMeter(int64(lim.Fuel), time.Now().Add(lim.Timeout))},
		alloc:  &limitedAllocator{limit: uint64(limitPages) * pageSize},
		stdout: wasi.stdout,
		stderr: wasi.stderr,
	}
	c.ctx, c.cancel = context.WithTimeout(ctx, lim.Timeout)
	wasi.work = func(n int64) { c.state.meter.charge(c.ctx, n) }
	c.ctx = context.WithValue(c.ctx, callKey{}, c.state)
	c.ctx = experimental.WithMemoryAllocator(c.ctx, c.alloc)
	return c, func() { c.cancel(); <-e.sem }, nil
}

// finish turns how the guest ended into the call's Result and error. ctx is the caller's.
func (c *meteredCall) finish(ctx context.Context, out runOutcome, wall time.Duration) (res Result, err error) {
	res.Usage = Usage{Wall: wall, PeakMemoryPages: uint32(c.alloc.peak / pageSize), Fuel: out.used, Metered: out.metered}
	res.Stdout, res.Stderr = c.stdout.Bytes(), c.stderr.Bytes()
	if ctx.Err() != nil {
		return res, fmt.Errorf("call: %w", ctx.Err())
	}
	lim := c.lim
	if out.err != nil {
		switch {
		case out.stopped:
			return res, fmt.Errorf("%w: call ran longer than %v (fuel used %d of %d)", ErrTimeout, lim.Timeout, out.used, lim.Fuel)
		case errors.Is(out.err, rewrite.ErrOutOfFuel) && c.alloc.refused && goOutOfMemory(c.stderr.buf):
			// The memory limit came first: the Go runtime was already dying of it, and its
			// crash report (a traceback per goroutine) ran out of fuel.
			return res, fmt.Errorf("%w: the guest needed more than %d MiB%s", ErrMemoryLimit, lim.MemoryMiB, detail(lineWith(c.stderr.buf, "runtime: out of memory")))
		case errors.Is(out.err, rewrite.ErrOutOfFuel):
			return res, fmt.Errorf("%w: used %d of %d%s", ErrFuelExhausted, out.used, lim.Fuel, detail(startSection(out.err)))
		case errors.Is(out.err, rewrite.ErrStackOverflow):
			return res, fmt.Errorf("%w: more than %d nested guest calls", ErrStackOverflow, DefaultMaxCallDepth)
		}
		// A reactor's Go runtime reports a fatal error on stderr and then traps (unreachable)
		// rather than exiting, so its message decides as it does for an exit.
		var exit *sys.ExitError
		if !errors.As(out.err, &exit) {
			switch {
			case goOutOfMemory(c.stderr.buf):
				return res, fmt.Errorf("%w: the guest needed more than %d MiB%s", ErrMemoryLimit, lim.MemoryMiB, detail(lineWith(c.stderr.buf, "runtime: out of memory")))
			case goStackOverflow(c.stderr.buf):
				return res, fmt.Errorf("%w%s", ErrStackOverflow, detail(lineWith(c.stderr.buf, "runtime: goroutine stack exceeds")))
			}
		}
		return res, classify(out.err, c.alloc, c.stderr.buf, lim)
	}
	output, err := c.state.out.result()
	if err != nil {
		return res, err
	}
	res.Output = output
	return res, nil
}

// runOutcome is how one metered run ended.
type runOutcome struct {
	err     error
	used    uint64
	metered bool
	// stopped reports that the call was stopped at a fuel check: its deadline or context ended.
	stopped bool
}

// run instantiates the module, gives it its fuel through meter, runs _start and always closes
// the instance.
func (m *meteredModule) run(ctx context.Context, cfg wazero.ModuleConfig, meter *fuelMeter) (out runOutcome) {
	defer func() {
		if r := recover(); r != nil {
			out.err = fmt.Errorf("%w: sandbox recovered from %v", ErrTrap, r)
		}
	}()
	mod, err := m.e.rt.InstantiateModule(ctx, m.compiled, cfg)
	if mod != nil {
		defer mod.Close(context.WithoutCancel(ctx))
	}
	if err != nil {
		// Only a start section runs at instantiation, with the fuel the rewriter gave it (0):
		// a code node has no use for one.
		if errors.Is(err, rewrite.ErrOutOfFuel) {
			out.metered = true
			err = fmt.Errorf("the module's start section ran before the host could give it fuel: %w", err)
		}
		out.err = err
		return out
	}
	g, ok := mod.ExportedGlobal(abi.FuelGlobal).(api.MutableGlobal)
	if !ok {
		out.err = fmt.Errorf("%w: rewritten module does not export a mutable %s", ErrTrap, abi.FuelGlobal)
		return out
	}
	out.metered = true
	meter.Start(g)
	_, err = mod.ExportedFunction("_start").Call(ctx)
	var exit *sys.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 0 {
		err = nil // the Go runtime ends main with proc_exit(0)
	}
	return meter.outcome(err, meter.Used())
}

// fuelMeter hands one metered call's budget to the guest in slices of fuelSlice (see the
// package's use of rewrite's host contract: out_of_fuel may return after adding fuel).
type fuelMeter struct {
	budget   int64
	reserve  int64 // the part of the budget not handed out yet
	deadline time.Time
	// timeout, when set, makes Start set deadline to now+timeout: pre-initialisation compiles
	// its module before it runs it, and the compilation is bounded by the load's context, not
	// by the time the initialiser may run.
	timeout time.Duration
	g       api.MutableGlobal
	stopped bool
}

func newFuelMeter(budget int64, deadline time.Time) *fuelMeter {
	return &fuelMeter{budget: budget, deadline: deadline}
}

// Start gives the guest its first slice through its fuel global g (preinit.Meter).
func (f *fuelMeter) Start(g api.MutableGlobal) {
	if f.timeout > 0 {
		f.deadline = time.Now().Add(f.timeout)
	}
	give := min(f.budget, fuelSlice)
	f.g, f.reserve = g, f.budget-give
	g.Set(uint64(give))
}

// refill is out_of_fuel: the guest's fuel is negative at a check. It stops the call when its
// deadline has passed or ctx ended, and otherwise adds slices until the fuel is not negative;
// when the budget cannot cover it, the call is out of fuel.
func (f *fuelMeter) refill(ctx context.Context) {
	if f.g == nil {
		panic(rewrite.ErrOutOfFuel) // a start section, run at instantiation: it gets no fuel
	}
	if ctx.Err() != nil || (!f.deadline.IsZero() && !time.Now().Before(f.deadline)) {
		f.stopped = true
		panic(errStopped)
	}
	left := int64(f.g.Get())
	for left < 0 && f.reserve > 0 {
		give := min(fuelSlice, f.reserve)
		left, f.reserve = left+give, f.reserve-give
	}
	if left < 0 {
		if at, ok := ctx.Value(trapClockKey{}).(*time.Time); ok {
			*at = time.Now()
		}
		panic(rewrite.ErrOutOfFuel)
	}
	f.g.Set(uint64(left))
	// Compiled guest code holds its thread until it calls out: give timers and other
	// goroutines (other calls, the server around them) a turn at every slice.
	runtime.Gosched()
}

// charge takes n fuel for work the host does for the guest (the WASI functions, wasi.go), as
// if the guest had run n instructions: when that takes the fuel below zero, refill checks the
// call's deadline and context and hands out more of the budget or stops the call. Before Start
// (a start section, run at instantiation) there is no fuel to take from.
func (f *fuelMeter) charge(ctx context.Context, n int64) {
	if f.g == nil {
		panic(rewrite.ErrOutOfFuel)
	}
	left := int64(f.g.Get()) - n
	f.g.Set(uint64(left))
	if left < 0 {
		f.refill(ctx)
	}
}

// Used is the fuel used so far: what was handed out minus what is left (preinit.Meter).
func (f *fuelMeter) Used() int64 {
	if f.g == nil {
		return 0
	}
	return f.budget - f.reserve - int64(f.g.Get())
}

// outcome accounts for a finished run that used the given fuel (read with Used before the
// instance was closed or restored).
func (f *fuelMeter) outcome(err error, used int64) runOutcome {
	out := runOutcome{err: err, metered: true, used: uint64(used)}
	out.stopped = f.stopped && err != nil && errors.Is(err, errStopped)
	return out
}

func startSection(err error) string {
	if err != nil && strings.HasPrefix(err.Error(), "the module's start section") {
		return "in the start section, which gets no fuel"
	}
	return ""
}
