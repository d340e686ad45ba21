package sandbox

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/sgde-project/sgde/wasm/rewrite"
)

// Defaults of the metered wazero engine.
const (
	// DefaultFuel is the fuel of a call whose Limits.Fuel is 0. A Go guest burns roughly 1-4
	// billion fuel per second of CPU on this class of machine (BENCHMARKS.md, "Metered wazero
	// engine"), so a runaway loop stops after a few seconds of CPU, inside DefaultTimeout, while
	// arith_program on any GSM-Hard program uses well under 1% of it.
	DefaultFuel = 10_000_000_000
	// MaxFuel is the largest per-call budget: sgde_fuel is an i64 and sized operations charge up
	// to 2^26 at once, so larger budgets could wrap.
	MaxFuel = 1 << 62
	// DefaultMaxCallDepth bounds live guest function activations (rewrite.StackLimit). Deep
	// enough for any interpreter a node needs, shallow enough that wazero's native stack stays a
	// few MiB. Go guests seldom reach it: growing a goroutine stack unwinds the wasm stack, so
	// Go recursion usually stops at the SDK's 8 MiB goroutine-stack cap first.
	DefaultMaxCallDepth = 20_000
)

// watchdogPeriod is how often the wall-clock backstop re-poisons the fuel of an overdue call:
// a guest's read-modify-write of sgde_fuel can overwrite one poisoning.
const watchdogPeriod = time.Millisecond

// poisonFuel is what the backstop writes to sgde_fuel: negative, so the next check traps, and
// far from the i64 minimum so the guest's subtractions cannot wrap it back to positive.
const poisonFuel int64 = -(1 << 62)

// maxRewriteCache bounds how many rewritten modules the engine keeps by digest.
const maxRewriteCache = 64

// NewWazeroMetered returns the wazero engine with deterministic fuel metering and a call-depth
// limit. Load rewrites each module with wasm/rewrite (MergeData, Meter, StackLimit) before
// compiling it; Call sets Limits.Fuel (DefaultFuel when 0) and reports the fuel used exactly in
// Usage.Fuel with Usage.Metered true. Running out of fuel returns ErrFuelExhausted, exceeding
// the call depth ErrStackOverflow.
//
// # Notes
//
//   - The runtime does not use WithCloseOnContextDone: fuel bounds every call. Limits.Timeout
//     and the caller's context remain as a backstop: when either ends, a watchdog sets the
//     guest's fuel negative so that its next check traps (ErrTimeout or the context's error).
//   - Modules that already import sgde.out_of_fuel or export sgde_fuel are refused
//     (ErrInvalidModule): a guest must not bring its own meter.
//   - The same module and input give the same output and the same fuel on every call and
//     machine.
func NewWazeroMetered(ctx context.Context, opts ...WazeroOption) (Engine, error) {
	return newUncapped(ctx, true, opts)
}

// NewWazeroTrusted returns the wazero engine with neither fuel metering nor
// WithCloseOnContextDone: the cheapest way to run a module, for benchmarking trusted code only.
// Modules are rewritten with MergeData alone, so that comparing this engine with
// NewWazeroMetered isolates the cost of metering.
//
// # Notes
//
//   - Nothing bounds a call's CPU: a guest that never ends never returns, whatever
//     Limits.Timeout or the caller's context say, and stalls the host's garbage collector.
//     Never run untrusted code on it.
func NewWazeroTrusted(ctx context.Context, opts ...WazeroOption) (Engine, error) {
	return newUncapped(ctx, false, opts)
}

// newUncapped starts a runtime without WithCloseOnContextDone, metered or not.
func newUncapped(ctx context.Context, meter bool, opts []WazeroOption) (Engine, error) {
	base, err := newWazeroBase(ctx, "new metered wazero engine", false, opts, func(hb wazero.HostModuleBuilder) wazero.HostModuleBuilder {
		return hb.NewFunctionBuilder().WithFunc(func(ctx context.Context) {
			if at, ok := ctx.Value(trapClockKey{}).(*time.Time); ok {
				*at = time.Now()
			}
			panic(rewrite.ErrOutOfFuel)
		}).Export(rewrite.ImportOutOfFuel).
			NewFunctionBuilder().WithFunc(func(context.Context) { panic(rewrite.ErrStackOverflow) }).Export(rewrite.ImportStackOverflow)
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
	meter    bool // false: NewWazeroTrusted
	pipeline rewrite.Pipeline

	mu       sync.Mutex
	rewrites map[[32]byte][]byte // digest of the original -> rewritten module
}

func (e *meteredEngine) Name() string { return "wazero" }

func (e *meteredEngine) Close(ctx context.Context) error { return e.base.Close(ctx) }

// Load rewrites wasm (once per digest; the compiled code is cached by the runtime) and
// compiles it. Errors are those of the unmetered engine's Load; a module the rewriter refuses
// is ErrInvalidModule. A reactor module (it exports _initialize and ReactorEntry instead of
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
		var err error
		rewritten, err = e.pipeline.Rewrite(wasm)
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
	m, err := e.base.Load(ctx, rewritten)
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
	out := m.run(c.ctx, cfg, int64(c.lim.Fuel))
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
	if lim.Fuel == 0 {
		lim.Fuel = DefaultFuel
	}
	if lim.Fuel > MaxFuel {
		return nil, nil, fmt.Errorf("call: fuel %d exceeds the maximum of %d", lim.Fuel, uint64(MaxFuel))
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
	c := &meteredCall{
		lim:    lim,
		state:  &callState{input: input, out: callOutput{max: lim.MaxOutputBytes}},
		alloc:  &limitedAllocator{limit: uint64(limitPages) * pageSize},
		stdout: &cappedWriter{max: lim.MaxOutputBytes},
		stderr: &cappedWriter{max: lim.MaxOutputBytes},
	}
	c.ctx, c.cancel = context.WithTimeout(ctx, lim.Timeout)
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
	// stopped reports that the wall-clock backstop poisoned the fuel.
	stopped bool
}

// run instantiates the module, gives it fuel, runs _start under the watchdog and always closes
// the instance.
func (m *meteredModule) run(ctx context.Context, cfg wazero.ModuleConfig, fuel int64) (out runOutcome) {
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
	g, ok := mod.ExportedGlobal(rewrite.ExportFuel).(api.MutableGlobal)
	if !ok {
		out.err = fmt.Errorf("%w: rewritten module does not export a mutable %s", ErrTrap, rewrite.ExportFuel)
		return out
	}
	g.Set(uint64(fuel))
	out.metered = true
	stop := watchFuel(ctx, g)
	_, err = mod.ExportedFunction("_start").Call(ctx)
	poisoned, stoppedAt := stop()
	var exit *sys.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 0 {
		err = nil // the Go runtime ends main with proc_exit(0)
	}
	return outcome(err, fuel, int64(g.Get()), poisoned, stoppedAt)
}

// outcome accounts for the fuel of a finished run: left is the fuel global after it, poisoned
// and stoppedAt what the watchdog reported.
func outcome(err error, fuel, left int64, poisoned bool, stoppedAt int64) runOutcome {
	out := runOutcome{err: err, metered: true}
	if poisoned && left <= poisonFuel/2 {
		// The backstop fired; the fuel used is what the guest had used when it did. The run
		// counts as stopped only if it ended at a fuel check (it may have trapped on its own or
		// finished first).
		left = stoppedAt
		out.stopped = err != nil && errors.Is(err, rewrite.ErrOutOfFuel)
	}
	out.used = uint64(fuel - left)
	return out
}

// watchFuel starts the wall-clock backstop of a metered call: when ctx ends before stop is
// called, it poisons g so that the guest's next fuel check traps. stop ends the watchdog and
// reports whether it poisoned g and the fuel left when it first did.
//
// The watchdog is a context.AfterFunc, not a goroutine per call: a call that finishes in time
// (nearly all) starts no goroutine, and starting one per call cost a scheduler wake-up of an
// idle thread on every call.
func watchFuel(ctx context.Context, g api.MutableGlobal) (stop func() (poisoned bool, stoppedAt int64)) {
	var fired bool
	var at int64
	done, exited := make(chan struct{}), make(chan struct{})
	cancel := context.AfterFunc(ctx, func() {
		defer close(exited)
		// The call is overdue. wazevo reloads a global from the instance after every call and
		// at every loop header, where the guest checks its fuel, so a store here is seen at the
		// next check; it is repeated because the guest's own read-modify-write can undo one.
		// These accesses are ordered before the caller's by exited (see docs/RATIONALE.md).
		fired, at = true, int64(g.Get())
		poison := poisonFuel
		tick := time.NewTicker(watchdogPeriod)
		defer tick.Stop()
		for {
			g.Set(uint64(poison))
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	return func() (bool, int64) {
		if cancel() {
			return false, 0 // the watchdog never started
		}
		close(done)
		<-exited
		return fired, at
	}
}

func startSection(err error) string {
	if err != nil && strings.HasPrefix(err.Error(), "the module's start section") {
		return "in the start section, which gets no fuel"
	}
	return ""
}
