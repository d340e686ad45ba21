//go:build wasmtime && cgo

package sandbox

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bytecodealliance/wasmtime-go/v39"

	"github.com/sgde-project/sgde/internal/atomicfile"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/wasm/abi"
)

// WasmtimeVersion is the wasmtime-go release this engine links (github.com/bytecodealliance/
// wasmtime-go/v39 v39.0.1, which bundles the wasmtime 39.0.0 C library). It keys the compile
// cache: a serialized module is only ever loaded by the release that wrote it.
const WasmtimeVersion = "39.0.1"

// Trap codes as the wasmtime 39 C API reports them (wasmtime/trap.h). The Go binding's enum
// omits WASMTIME_TRAP_CODE_ALWAYS_TRAP_ADAPTER (11), so its OutOfFuel constant is 11 while a
// real fuel trap reports 12; we use the C numbering (TestWasmtimeFuelTrapCode pins it).
const (
	wtTrapCodeStackOverflow = 0
	wtTrapCodeInterrupt     = 10
	wtTrapCodeOutOfFuel     = 12
)

const (
	// wtDefaultMaxWasmStack bounds the native stack wasm code may use. It must stay well under the
	// stack of the thread that runs cgo calls (8 MiB by default on linux).
	wtDefaultMaxWasmStack = 1 << 20
	wtDefaultEpochTick    = 5 * time.Millisecond

	// wtMaxTableElements bounds every table; Go and TinyGo modules need a few thousand.
	wtMaxTableElements = 1 << 20
)

// wasmtimeConfig configures a wasmtime engine. It is immutable: each With method returns a copy.
type wasmtimeConfig struct {
	cacheDir     string
	maxWasmStack int
	epochTick    time.Duration
	// noFuel turns fuel metering off; only the benchmarks that measure its cost set it.
	noFuel bool
}

// newWasmtimeConfig returns the default configuration: no compile cache on disk, a 1 MiB
// maximum wasm stack and a 5 ms epoch tick.
func newWasmtimeConfig() wasmtimeConfig {
	return wasmtimeConfig{maxWasmStack: wtDefaultMaxWasmStack, epochTick: wtDefaultEpochTick}
}

// WithCacheDir keeps compiled modules in dir (created 0700 if missing), keyed by the wasm's
// SHA-256, the wasmtime version and the engine settings. The directory must be as trusted as
// the sgde binary: wasmtime loads its files as native code.
func (c wasmtimeConfig) WithCacheDir(dir string) wasmtimeConfig {
	c.cacheDir = dir
	return c
}

// WithMaxWasmStack sets the native stack, in bytes, that wasm code may use before a call fails
// with ErrStackOverflow.
func (c wasmtimeConfig) WithMaxWasmStack(bytes int) wasmtimeConfig {
	c.maxWasmStack = bytes
	return c
}

// WithEpochTick sets how often the engine's clock advances; it is the granularity of
// Limits.Timeout.
func (c wasmtimeConfig) WithEpochTick(d time.Duration) wasmtimeConfig {
	c.epochTick = d
	return c
}

// wasmtimeEngine is the Engine on wasmtime: native fuel metering, epoch interruption for wall time,
// a store limiter for memory and tables and a bounded wasm stack. WASI is sgde's own
// deterministic subset, identical in behaviour to the wazero engine's.
//
// # Notes
//
//   - Cancelling a call's context takes effect through its deadline: a context cancelled
//     without one stops the call at Limits.Timeout at the latest (wasmtime can only interrupt a
//     running store through the engine-wide epoch).
//   - Fuel is wasmtime's: about one unit per wasm operator. Budgets are not comparable with
//     another engine's. After a timeout Usage.Fuel is a lower bound: compiled code keeps the
//     count in a register, and the epoch interrupt does not write it back.
type wasmtimeEngine struct {
	cfg    wasmtimeConfig
	engine *wasmtime.Engine
	linker *wasmtime.Linker

	mu     sync.RWMutex // held for reading by every Load and Call, for writing by Close
	closed bool
	stop   chan struct{}
	done   chan struct{}

	// trim bounds the compile cache on disk (nil without one, or without a bound).
	trim *cacheTrimmer
	// compileSlots bounds the compilations running at once, abandoned ones included
	// (compileModule); abandoned counts those still running after their load gave up.
	compileSlots chan struct{}
	abandoned    atomic.Int64
}

var _ Engine = (*wasmtimeEngine)(nil)

// wtFlag is one engine setting that changes compiled code.
type wtFlag struct {
	name string
	on   bool
	set  func(*wasmtime.Config, bool)
}

// flags is every boolean engine setting sgde makes. It both configures the engine and keys the
// compile cache: wasmtime does not refuse every serialized module compiled under other settings
// (a module compiled with NaN canonicalisation loaded without complaint), so the key must.
func (c wasmtimeConfig) flags() []wtFlag {
	return []wtFlag{
		{"consume_fuel", !c.noFuel, (*wasmtime.Config).SetConsumeFuel},
		{"epoch_interruption", true, (*wasmtime.Config).SetEpochInterruption},
		// Proposals a code node never needs stay off. Go and TinyGo emit no SIMD, and SIMD is
		// where wasmtime 39 has a known x86-64 miscompile (GHSA-qqfj-4vcm-26hv, SECURITY.md);
		// wazero would accept a SIMD module that this engine rejects as ErrInvalidModule.
		{"simd", false, (*wasmtime.Config).SetWasmSIMD},
		{"relaxed_simd", false, (*wasmtime.Config).SetWasmRelaxedSIMD},
		{"threads", false, (*wasmtime.Config).SetWasmThreads},
		{"memory64", false, (*wasmtime.Config).SetWasmMemory64},
		{"gc", false, (*wasmtime.Config).SetWasmGC},
		{"function_references", false, (*wasmtime.Config).SetWasmFunctionReferences},
		{"wide_arithmetic", false, (*wasmtime.Config).SetWasmWideArithmetic},
		{"multi_memory", false, (*wasmtime.Config).SetWasmMultiMemory},
		{"tail_call", false, (*wasmtime.Config).SetWasmTailCall},
		// NaN bits are guest-visible (math.Float64bits). wazero leaves them to the hardware, and
		// so must we: canonicalising would make the engines differ (TestDifferentialNaNBits).
		{"nan_canonicalization", false, (*wasmtime.Config).SetCraneliftNanCanonicalization},
	}
}

// cacheKey names everything a compiled module depends on besides the wasm itself.
func (c wasmtimeConfig) cacheKey() string {
	h := sha256.New()
	for _, f := range c.flags() {
		fmt.Fprintf(h, "%s=%t\n", f.name, f.on)
	}
	fmt.Fprintf(h, "max_wasm_stack=%d\n", c.maxWasmStack)
	return fmt.Sprintf("wasmtime%s-%x", WasmtimeVersion, h.Sum(nil)[:8])
}

// newWasmtime starts a wasmtime engine and its epoch ticker; Close stops both.
func newWasmtime(_ context.Context, cfg wasmtimeConfig) (*wasmtimeEngine, error) {
	if cfg.maxWasmStack <= 0 || cfg.epochTick <= 0 {
		return nil, errors.New("wasmtime: max wasm stack and epoch tick must be positive")
	}
	if cfg.cacheDir != "" {
		if err := os.MkdirAll(cfg.cacheDir, 0o700); err != nil {
			return nil, fmt.Errorf("wasmtime: compile cache: %w", err)
		}
	}
	wc := wasmtime.NewConfig()
	for _, f := range cfg.flags() {
		f.set(wc, f.on)
	}
	wc.SetMaxWasmStack(cfg.maxWasmStack)
	e := &wasmtimeEngine{
		compileSlots: make(chan struct{}, compileSlotCount()),
		cfg:          cfg,
		engine:       wasmtime.NewEngineWithConfig(wc),
		stop:         make(chan struct{}),
		done:         make(chan struct{}),
	}
	e.linker = wasmtime.NewLinker(e.engine)
	if err := wtDefineWASI(e.linker); err != nil {
		e.engine.Close()
		return nil, fmt.Errorf("wasmtime: %w", err)
	}
	if err := wtDefineSGDE(e.linker); err != nil {
		e.engine.Close()
		return nil, fmt.Errorf("wasmtime: %w", err)
	}
	go e.tick()
	return e, nil
}

// tick advances the engine's epoch until Close; each call's deadline is counted in ticks.
func (e *wasmtimeEngine) tick() {
	defer close(e.done)
	t := time.NewTicker(e.cfg.epochTick)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
			e.engine.IncrementEpoch()
		}
	}
}

// Name returns plans.EngineWasmtime.
func (e *wasmtimeEngine) Name() plans.EngineName { return plans.EngineWasmtime }

// errNoWasmtime is nil: this binary has the wasmtime engine (wasmtime_stub.go is the other case).
var errNoWasmtime error

// newWasmtimeEngine is what New calls for plans.EngineWasmtime: the default configuration, with
// the compile cache of opts (WithCompilationCacheDir, bounded by WithCompilationCacheMaxBytes).
func newWasmtimeEngine(ctx context.Context, opts engineConfig) (Engine, error) {
	cfg := newWasmtimeConfig()
	if opts.cacheDir != "" {
		cfg = cfg.WithCacheDir(opts.cacheDir)
	}
	e, err := newWasmtime(ctx, cfg)
	if err != nil {
		return nil, err
	}
	e.trim = newCacheTrimmer(opts)
	return e, nil
}

// Close stops the ticker and releases the engine after in-flight calls have returned. Modules
// loaded from it become unusable. Close is idempotent.
func (e *wasmtimeEngine) Close(context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	close(e.stop)
	<-e.done
	e.linker.Close()
	e.engine.Close()
	return nil
}

var errWasmtimeClosed = errors.New("wasmtime: engine closed")

// Load checks that wasm is a code-node module the sandbox can run and compiles it, or loads it
// from the compile cache. The checks are the wazero engine's, in the same order, so that a
// module is rejected by both engines or by neither: errors wrap ErrInvalidModule, or
// ErrMemoryLimit when the initial memory exceeds plans.MaxMemoryMiB.
func (e *wasmtimeEngine) Load(ctx context.Context, wasm []byte) (Module, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(wasm) > DefaultMaxModuleBytes {
		return nil, fmt.Errorf("%w: module is %d bytes, the limit is %d", ErrInvalidModule, len(wasm), DefaultMaxModuleBytes)
	}
	wasm, err := checkStructure(wasm)
	if err != nil {
		return nil, err
	}
	info, err := readMemoryInfo(wasm)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidModule, err)
	}
	switch {
	case info.shared || info.mem64:
		return nil, fmt.Errorf("%w: shared and 64-bit memories are not supported", ErrInvalidModule)
	case info.count > 1:
		return nil, fmt.Errorf("%w: module declares %d memories", ErrInvalidModule, info.count)
	case uint64(info.minPages) > uint64(plans.MaxMemoryMiB)*16:
		return nil, fmt.Errorf("%w: initial memory of %d pages exceeds the engine maximum of %d MiB", ErrMemoryLimit, info.minPages, plans.MaxMemoryMiB)
	}
	m, err := e.compileModule(ctx, wasm)
	if err != nil {
		return nil, err
	}
	defer e.mu.RUnlock()
	if err := wtCheckImports(m); err != nil {
		m.Close()
		return nil, err
	}
	metered := false
	for _, exp := range m.Exports() {
		if gt := exp.Type().GlobalType(); exp.Name() == abi.FuelGlobal && gt != nil && gt.Mutable() && gt.Content().Kind() == wasmtime.KindI64 {
			metered = true
		}
	}
	return &wasmtimeModule{engine: e, mod: m, minPages: info.minPages, metered: metered}, nil
}

// compileModule compiles wasm (or loads it from the cache) and gives up when ctx ends.
// wasmtime's compiler cannot be interrupted, so an abandoned compilation runs on in the
// background, holding its compile slot and a read lock on the engine until it ends; its module
// (still stored in the cache, so that the next load finds it) is then closed. At most
// cap(compileSlots) compilations run at once, abandoned ones included: a load that finds none
// free waits for one or for its ctx. Close waits for them all (the write lock). On success the
// caller holds the engine's read lock and must release it.
func (e *wasmtimeEngine) compileModule(ctx context.Context, wasm []byte) (*wasmtime.Module, error) {
	select {
	case e.compileSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, loadError(ctx)
	}
	e.mu.RLock()
	if e.closed {
		e.mu.RUnlock()
		<-e.compileSlots
		return nil, errWasmtimeClosed
	}
	type result struct {
		m   *wasmtime.Module
		err error
	}
	done := make(chan result) // unbuffered: a send succeeds only while the load still waits
	abandoned := make(chan struct{})
	sum := sha256.Sum256(wasm)
	go func() {
		defer func() { <-e.compileSlots }()
		m, err := e.compile(wasm, sum)
		select {
		case done <- result{m, err}: // the read lock passes to the load
		case <-abandoned:
			if m != nil {
				m.Close()
			}
			e.abandoned.Add(-1)
			e.mu.RUnlock()
		}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			e.mu.RUnlock()
			return nil, r.err
		}
		return r.m, nil
	case <-ctx.Done():
		e.abandoned.Add(1)
		close(abandoned)
		return nil, loadError(ctx)
	}
}

func (e *wasmtimeEngine) compile(wasm []byte, sum [32]byte) (*wasmtime.Module, error) {
	path := e.cachePath(sum)
	if path != "" {
		if m := e.loadCached(path); m != nil {
			return m, nil
		}
	}
	m, err := wasmtime.NewModule(e.engine, wasm)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidModule, truncateMessage(firstLine(err.Error())))
	}
	if path != "" {
		e.storeCached(path, m) // best effort: a cache that cannot be written only costs time
		e.trim.maybeTrim()
	}
	return m, nil
}

// cachePath names the cache entry for a module; "" when there is no cache.
func (e *wasmtimeEngine) cachePath(sum [32]byte) string {
	if e.cfg.cacheDir == "" {
		return ""
	}
	name := fmt.Sprintf("%s-%s.cwasm", hex.EncodeToString(sum[:]), e.cfg.cacheKey())
	return filepath.Join(e.cfg.cacheDir, name)
}

// A cache entry is the SHA-256 of the serialized module followed by the module, so that a
// truncated or corrupted file is recompiled rather than handed to wasmtime.
func (e *wasmtimeEngine) loadCached(path string) *wasmtime.Module {
	b, err := os.ReadFile(path)
	if err != nil || len(b) < sha256.Size {
		return nil
	}
	want, body := b[:sha256.Size], b[sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], want) {
		return nil
	}
	m, err := wasmtime.NewModuleDeserialize(e.engine, body)
	if err != nil {
		return nil
	}
	now := time.Now()
	_ = os.Chtimes(path, now, now) // recently used: trimmed last
	return m
}

func (e *wasmtimeEngine) storeCached(path string, m *wasmtime.Module) {
	body, err := m.Serialize()
	if err != nil {
		return
	}
	sum := sha256.Sum256(body)
	_ = atomicfile.Write(path, append(sum[:], body...), 0o600) // a cache: failing to store is not an error
}

// wtCheckImports accepts only functions the sandbox provides, with their exact signatures, and
// a _start () -> () entry point: a module cannot ask for memory, tables or globals from outside.
func wtCheckImports(m *wasmtime.Module) error {
	for _, imp := range m.Imports() {
		name := ""
		if n := imp.Name(); n != nil {
			name = *n
		}
		ft := imp.Type().FuncType()
		if ft == nil {
			if imp.Type().MemoryType() != nil {
				return fmt.Errorf("%w: module imports a memory", ErrInvalidModule)
			}
			return fmt.Errorf("%w: import %s.%s is not a function", ErrInvalidModule, truncateMessage(imp.Module()), truncateMessage(name))
		}
		params, results, ok := wtOffered(imp.Module(), name)
		if !ok {
			return fmt.Errorf("%w: import %s.%s is not provided by the sandbox (only %s and %s functions are)", ErrInvalidModule, truncateMessage(imp.Module()), truncateMessage(name), wasiModuleName, abi.HostModule)
		}
		if !wtSameKinds(ft.Params(), params) || !wtSameKinds(ft.Results(), results) {
			return fmt.Errorf("%w: import %s.%s has the wrong signature", ErrInvalidModule, imp.Module(), name)
		}
	}
	for _, exp := range m.Exports() {
		if exp.Name() != "_start" {
			continue
		}
		if ft := exp.Type().FuncType(); ft != nil && len(ft.Params()) == 0 && len(ft.Results()) == 0 {
			return nil
		}
	}
	return fmt.Errorf("%w: module does not export a _start function () -> ()", ErrInvalidModule)
}

// wtOffered returns the signature of a host function the sandbox provides.
func wtOffered(module, name string) (params, results []wasmtime.ValKind, ok bool) {
	switch module {
	case wasiModuleName:
		if name == "proc_exit" {
			return wtSig(wtI32), nil, true
		}
		for _, f := range wasiFuncs {
			if f.name == name {
				return wtKinds(f.params), wtSig(wtI32), true
			}
		}
	case abi.HostModule:
		switch name {
		case abi.InputSize:
			return nil, wtSig(wtI32), true
		case abi.InputRead:
			return wtSig(wtI32), nil, true
		case abi.OutputWrite:
			return wtSig(wtI32, wtI32), nil, true
		case abi.OutOfFuel, abi.StackOverflow:
			return nil, nil, true
		}
	}
	return nil, nil, false
}

func wtSameKinds(got []*wasmtime.ValType, want []wasmtime.ValKind) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i].Kind() != want[i] {
			return false
		}
	}
	return true
}

type wasmtimeModule struct {
	engine   *wasmtimeEngine
	minPages uint32
	metered  bool // the module exports sandbox/internal/rewrite's fuel global

	mu     sync.RWMutex
	mod    *wasmtime.Module
	closed bool
}

// Close releases the compiled module. Calls in flight finish first.
func (m *wasmtimeModule) Close(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.closed = true
		m.mod.Close()
	}
	return nil
}

// wtCallState is everything one call's host functions share; it is the Store's data.
type wtCallState struct {
	wasi      *wasiState
	input     []byte
	out       callOutput
	hostPanic string // set when a host function panicked
	// stopped: a WASI function found the call's deadline passed or its context ended.
	stopped bool
	// exited, exitCode: the guest called proc_exit (wasmtime reports it as a trap).
	exited   bool
	exitCode uint32
	// caller is the instance inside the WASI call in progress, nil between calls.
	caller    *wasmtime.Caller
	meterTrap error // ErrFuelExhausted or ErrStackOverflow, from the rewriter's limit imports
}

func wtCallStateOf(c *wasmtime.Caller) *wtCallState { return c.Data().(*wtCallState) }

// Call instantiates the module in a fresh store, runs _start with input and drops the store.
// As on the wazero engine, the Result carries Usage, Stdout and Stderr even on error, and when
// ctx itself ends Call returns ctx's error rather than a limit error.
func (m *wasmtimeModule) Call(ctx context.Context, input []byte, lim Limits) (res Result, err error) {
	lim = lim.withDefaults()
	if lim.Fuel > plans.MaxFuel {
		return res, fmt.Errorf("call: fuel %d exceeds the maximum of %d", lim.Fuel, uint64(plans.MaxFuel))
	}
	if lim.MemoryMiB > plans.MaxMemoryMiB {
		return res, fmt.Errorf("call: memory limit %d MiB exceeds the engine maximum of %d MiB", lim.MemoryMiB, plans.MaxMemoryMiB)
	}
	limitPages := lim.MemoryMiB * 16
	if m.minPages > limitPages {
		return res, fmt.Errorf("%w: initial memory of %d pages (%d KiB) exceeds the limit of %d MiB", ErrMemoryLimit, m.minPages, m.minPages*64, lim.MemoryMiB)
	}
	if uint64(len(input)) > 1<<31-1 {
		return res, fmt.Errorf("call: input of %d bytes is too large", len(input))
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("call: %w", err)
	}
	m.engine.mu.RLock()
	defer m.engine.mu.RUnlock()
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.engine.closed || m.closed {
		return res, errWasmtimeClosed
	}

	st := &wtCallState{wasi: newWASIState(lim.MaxOutputBytes), input: input, out: callOutput{max: lim.MaxOutputBytes}}
	store := wasmtime.NewStoreWithData(m.engine.engine, st)
	defer store.Close()
	store.Limiter(int64(limitPages)*wtPageSize, wtMaxTableElements, -1, -1, -1)
	if !m.engine.cfg.noFuel {
		// A module metered by sandbox/internal/rewrite counts its own fuel against Limits.Fuel; wasmtime's count
		// is then only a backstop, four times the budget, for the cost the rewriter does not see.
		if err := store.SetFuel(wtNativeFuel(m.metered, lim.Fuel)); err != nil {
			return res, fmt.Errorf("call: set fuel: %w", err)
		}
	}
	timeout := lim.Timeout
	// ctxBound: the caller's deadline, not the limit, is what the epoch deadline enforces.
	ctxBound := false
	if d, ok := ctx.Deadline(); ok {
		if left := max(time.Until(d), 0); left < timeout {
			timeout, ctxBound = left, true
		}
	}
	// Two ticks more than the timeout needs: the epoch may advance right after this line, and
	// the deadline is reached when the epoch equals it.
	store.SetEpochDeadline(uint64(timeout/m.engine.cfg.epochTick) + 2)
	// The epoch interrupts guest code only: host work stops at the deadline here, and costs
	// wasmtime fuel as guest instructions would (wasi.go).
	deadline := time.Now().Add(timeout)
	var meter *wasmtime.Global // a module metered by sandbox/internal/rewrite: its fuel global
	st.wasi.work = func(n int64) {
		if ctx.Err() != nil || !time.Now().Before(deadline) {
			st.stopped = true
			panic(errStopped)
		}
		switch {
		case meter != nil && st.caller != nil:
			// As on wazero: the guest's own fuel pays, and its next check stops it when the
			// fuel is gone, so both engines count the same fuel.
			_ = meter.Set(st.caller, wasmtime.ValI64(meter.Get(st.caller).I64()-n))
		case !m.engine.cfg.noFuel && !m.metered:
			if f, err := store.GetFuel(); err == nil {
				_ = store.SetFuel(f - min(f, uint64(n)))
			}
		}
	}

	start := time.Now()
	inst, runErr := m.engine.linker.Instantiate(store, m.mod)
	if runErr == nil {
		if meter = wtFuelGlobal(store, inst); meter != nil {
			runErr = meter.Set(store, wasmtime.ValI64(int64(min(lim.Fuel, math.MaxInt64))))
		}
	}
	if runErr == nil {
		runErr = wtRun(store, inst)
	}
	res.Usage = Usage{Wall: time.Since(start), Metered: !m.engine.cfg.noFuel || meter != nil}
	res.Stdout, res.Stderr = st.wasi.stdout.Bytes(), st.wasi.stderr.Bytes()
	if meter != nil {
		// The module meters itself (sandbox/internal/rewrite.Meter): report its count, which is the same on
		// every engine, rather than wasmtime's.
		if left := meter.Get(store).I64(); left < int64(min(lim.Fuel, math.MaxInt64)) {
			res.Usage.Fuel = uint64(int64(min(lim.Fuel, math.MaxInt64)) - left)
		}
	} else if remaining, ferr := store.GetFuel(); ferr == nil && remaining <= lim.Fuel {
		res.Usage.Fuel = lim.Fuel - remaining
	}
	pages := m.minPages
	if inst != nil {
		if ext := inst.GetExport(store, "memory"); ext != nil && ext.Memory() != nil {
			pages = uint32(ext.Memory().Size(store)) // linear memory never shrinks: its size is the peak
		}
	}
	res.Usage.PeakMemoryPages = pages

	if ctx.Err() != nil {
		return res, fmt.Errorf("call: %w", ctx.Err())
	}
	if err := st.classify(runErr, pages, limitPages, lim); err != nil {
		if ctxBound && errors.Is(err, ErrTimeout) {
			// The epoch can pass the caller's deadline a moment before the context's own timer
			// fires; the deadline is due, so wait for it and report the context's error, as
			// the wazero engine does.
			<-ctx.Done()
			return res, fmt.Errorf("call: %w", ctx.Err())
		}
		return res, err
	}
	out, err := st.out.result()
	if err != nil {
		return res, err
	}
	res.Output = out
	return res, nil
}

const wtPageSize = 65536

// wtNativeFuel is wasmtime's fuel for a call: the budget, or for a module that meters itself
// no limit. Its own checks must be what stops it, as on wazero; wasmtime's count would stop it
// first and at a different point, since it also counts the metering code (ten times the
// module's cost in a tight loop). The epoch deadline still bounds the call.
func wtNativeFuel(metered bool, budget uint64) uint64 {
	if metered {
		return math.MaxUint64
	}
	return budget
}

// wtFuelGlobal returns the fuel global of a module metered by sandbox/internal/rewrite, or nil.
func wtFuelGlobal(store *wasmtime.Store, inst *wasmtime.Instance) *wasmtime.Global {
	ext := inst.GetExport(store, abi.FuelGlobal)
	if ext == nil {
		return nil
	}
	g := ext.Global()
	if g == nil || !g.Type(store).Mutable() || g.Type(store).Content().Kind() != wasmtime.KindI64 {
		return nil
	}
	return g
}

// wtRun calls _start, which Load checked exists.
func wtRun(store *wasmtime.Store, inst *wasmtime.Instance) error {
	f := inst.GetFunc(store, "_start")
	if f == nil {
		return fmt.Errorf("%w: module does not export a _start function", ErrInvalidModule)
	}
	_, err := f.Call(store)
	return err
}

// classify maps how an instance ended to nil (it returned, or exited 0) or to exactly one
// sentinel, in the wazero engine's order of precedence.
//
// wasmtime does not report that its store limiter refused a memory.grow, so "refused" is
// inferred. A Go guest that exits says "fatal error: out of memory" on stderr (which the wazero
// engine also relies on, for allocations the Go runtime refuses itself); a module that
// traps is taken to have been refused when its memory ended within one Go heap arena (4 MiB)
// of the limit. The wazero engine knows it from its allocator.
func (st *wtCallState) classify(err error, pages, limitPages uint32, lim Limits) error {
	if st.stopped {
		return fmt.Errorf("%w: call ran longer than %v", ErrTimeout, lim.Timeout)
	}
	if st.hostPanic != "" {
		return fmt.Errorf("%w: sandbox recovered from %s", ErrTrap, truncateMessage(st.hostPanic))
	}
	if st.meterTrap != nil {
		return fmt.Errorf("%w: the guest's own limit check stopped it (call fuel %d)", st.meterTrap, lim.Fuel)
	}
	if err == nil {
		return nil
	}
	stderr := st.wasi.stderr.buf
	goOOM := goOutOfMemory(stderr)
	if st.exited {
		// The same words as the wazero engine, from the same helpers.
		code := st.exitCode
		if code == 0 {
			return nil
		}
		switch {
		case goOOM:
			return fmt.Errorf("%w: the guest needed more than %d MiB%s", ErrMemoryLimit, lim.MemoryMiB, detail(lineWith(stderr, "runtime: out of memory")))
		case goStackOverflow(stderr):
			return fmt.Errorf("%w%s", ErrStackOverflow, detail(lineWith(stderr, "runtime: goroutine stack exceeds")))
		}
		msg := firstLines(stderr, 3)
		if msg == "" {
			msg = "no message"
		}
		return fmt.Errorf("%w: guest exited with code %d: %s", ErrTrap, code, truncateMessage(msg))
	}
	refused := goOOM || pages+wtArenaPages > limitPages
	var trap *wasmtime.Trap
	if !errors.As(err, &trap) {
		if errors.Is(err, ErrInvalidModule) {
			return err
		}
		// Instantiation failed although Load checked every import: a limit refused it.
		if refused {
			return fmt.Errorf("%w: %s", ErrMemoryLimit, truncateMessage(firstLine(err.Error())))
		}
		return fmt.Errorf("%w: %s", ErrTrap, truncateMessage(firstLine(err.Error())))
	}
	if code := trap.Code(); code != nil {
		switch *code {
		case wtTrapCodeInterrupt:
			return fmt.Errorf("%w: call ran longer than %v", ErrTimeout, lim.Timeout)
		case wtTrapCodeOutOfFuel:
			return fmt.Errorf("%w: call used more than %d fuel", ErrFuelExhausted, lim.Fuel)
		case wtTrapCodeStackOverflow:
			return fmt.Errorf("%w: the guest's call stack overflowed", ErrStackOverflow)
		}
	}
	if refused {
		return fmt.Errorf("%w: the guest needed more than %d MiB (%s)", ErrMemoryLimit, lim.MemoryMiB, truncateMessage(firstLine(trap.Message())))
	}
	return fmt.Errorf("%w: %s", ErrTrap, truncateMessage(firstLine(trap.Message())))
}

// wtArenaPages is the Go runtime's heap arena on wasm (4 MiB) in pages: the most a Go guest asks
// for in one memory.grow.
const wtArenaPages = 64
