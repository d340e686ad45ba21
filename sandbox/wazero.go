package sandbox

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/wasm/abi"
)

// Engine-wide bounds of the wazero engine.
const (
	// DefaultMaxModuleBytes bounds the size of a module passed to Load.
	DefaultMaxModuleBytes = 64 << 20
)

const (
	pageSize       = 65536
	wasiModuleName = wasi_snapshot_preview1.ModuleName
)

// Option configures an engine started by New.
type Option func(*engineConfig)

// engineConfig is what New's options set. The wazero engines read all of it; wasmtime reads
// metering and cacheDir.
type engineConfig struct {
	metering       Metering
	cacheDir       string
	cacheMaxBytes  int64
	maxConcurrency int
	maxMemoryMiB   uint32
	maxModuleBytes int
}

// WithCompilationCacheDir keeps compiled machine code in dir so that loading the same module
// again (in this or another process) skips compilation. "" keeps it in memory only.
func WithCompilationCacheDir(dir string) Option {
	return func(c *engineConfig) { c.cacheDir = dir }
}

// WithMaxConcurrency bounds how many calls run at once on a wazero engine; further calls wait.
// The default is GOMAXPROCS.
func WithMaxConcurrency(n int) Option {
	return func(c *engineConfig) { c.maxConcurrency = n }
}

// WithMaxMemoryMiB sets the largest per-call memory limit the engine accepts (default
// plans.MaxMemoryMiB, the ceiling a plan can ask for). Modules whose initial memory is larger fail to load.
func WithMaxMemoryMiB(n uint32) Option {
	return func(c *engineConfig) { c.maxMemoryMiB = n }
}

// WithMaxModuleBytes bounds the size of modules passed to Load (default DefaultMaxModuleBytes).
func WithMaxModuleBytes(n int) Option {
	return func(c *engineConfig) { c.maxModuleBytes = n }
}

// wazeroEngine runs modules in wazero's compiler engine. One runtime serves every call; each
// call instantiates the compiled module afresh with its own memory allocator (which enforces the
// call's memory limit), output buffers and host-call state, and closes it afterwards.
type wazeroEngine struct {
	cfg   engineConfig
	rt    wazero.Runtime
	cache wazero.CompilationCache
	sem   chan struct{}
	// hostFuncs maps "module\x00name" to the signature of every function the sandbox offers.
	hostFuncs map[string]api.FunctionDefinition
	// compiling counts compilations still running, abandoned ones included: Close waits for
	// them, because a compilation that finishes in a closed runtime writes to freed state.
	compiling sync.WaitGroup
	// compileSlots bounds the compilations running at once, abandoned ones included
	// (compileModule); abandoned counts those still running after their load gave up.
	compileSlots chan struct{}
	abandoned    atomic.Int64
	// trim bounds the compilation cache on disk (nil without one).
	trim *cacheTrimmer
}

// newWallClockWazero returns the wazero engine of MeterWallClock.
//
// # Notes
//
//   - The CPU bound of a call is its wall timeout: wazero stops a module whose context is done
//     (WithCloseOnContextDone). Fuel is not metered; Usage.Metered is false.
//   - The guest sees no arguments, no environment, no files, no sockets, a clock that starts at
//     2022-01-01 and advances 1ms per reading, and a random source with a fixed seed: the same
//     module and input give the same output on every call.
func newWallClockWazero(ctx context.Context, opts []Option) (Engine, error) {
	e, err := newWazeroBase(ctx, "new wazero engine", true, opts, nil)
	if err != nil {
		return nil, err
	}
	return e, nil
}

// newWazeroBase starts what every wazero engine shares: the configuration from opts, the
// runtime (stopped by context cancellation only when closeOnDone), the compilation cache, WASI
// and the sgde host module, to which host (when not nil) adds functions. what prefixes errors.
func newWazeroBase(ctx context.Context, what string, closeOnDone bool, opts []Option, host func(wazero.HostModuleBuilder) wazero.HostModuleBuilder) (*wazeroEngine, error) {
	cfg := engineConfig{
		maxConcurrency: runtime.GOMAXPROCS(0),
		maxMemoryMiB:   plans.MaxMemoryMiB,
		maxModuleBytes: DefaultMaxModuleBytes,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.maxConcurrency <= 0 {
		cfg.maxConcurrency = 1
	}
	if cfg.maxMemoryMiB == 0 || cfg.maxMemoryMiB > wasm32MaxMiB {
		return nil, fmt.Errorf("%s: memory maximum %d MiB is outside 1..%d", what, cfg.maxMemoryMiB, wasm32MaxMiB)
	}
	rc := wazero.NewRuntimeConfigCompiler().
		WithCloseOnContextDone(closeOnDone).
		WithMemoryLimitPages(min(cfg.maxMemoryMiB*16, 65536))
	e := &wazeroEngine{cfg: cfg, sem: make(chan struct{}, cfg.maxConcurrency), hostFuncs: map[string]api.FunctionDefinition{},
		compileSlots: make(chan struct{}, compileSlotCount())}
	if cfg.cacheDir != "" {
		cache, err := wazero.NewCompilationCacheWithDir(cfg.cacheDir)
		if err != nil {
			return nil, fmt.Errorf("%s: compilation cache: %w", what, err)
		}
		e.cache = cache
		e.trim = newCacheTrimmer(cfg)
		rc = rc.WithCompilationCache(cache)
	}
	e.rt = wazero.NewRuntimeWithConfig(ctx, rc)
	if err := instantiateWASI(ctx, e.rt); err != nil {
		_ = e.Close(ctx)
		return nil, fmt.Errorf("%s: wasi: %w", what, err)
	}
	hb := e.hostModule()
	if host != nil {
		hb = host(hb)
	}
	if _, err := hb.Instantiate(ctx); err != nil {
		_ = e.Close(ctx)
		return nil, fmt.Errorf("%s: host module: %w", what, err)
	}
	for _, name := range []string{wasiModuleName, abi.HostModule} {
		for fn, def := range e.rt.Module(name).ExportedFunctionDefinitions() {
			e.hostFuncs[name+"\x00"+fn] = def
		}
	}
	return e, nil
}

// callKey carries a call's state to the host functions, which are shared by every instance.
type callKey struct{}

type callState struct {
	wasi  *wasiState
	input []byte
	out   callOutput
	meter *fuelMeter // metered engine only
}

func stateOf(ctx context.Context) *callState {
	s, _ := ctx.Value(callKey{}).(*callState)
	if s == nil {
		panic("sgde host function called outside a sandbox call")
	}
	return s
}

// hostModule defines the "sgde" imports of wasm/guest/io_wasip1.go. They are stack-based
// api.GoModuleFunc values rather than WithFunc closures, which wazero calls through reflection
// (a few microseconds per call, three calls per node call).
func (e *wazeroEngine) hostModule() wazero.HostModuleBuilder {
	i32 := api.ValueTypeI32
	return e.rt.NewHostModuleBuilder(abi.HostModule).
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, _ api.Module, stack []uint64) {
		stack[0] = api.EncodeU32(uint32(len(stateOf(ctx).input)))
	}), nil, []api.ValueType{i32}).Export(abi.InputSize).
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, m api.Module, stack []uint64) {
		if !m.Memory().Write(api.DecodeU32(stack[0]), stateOf(ctx).input) {
			panic(errors.New("input_read: buffer is outside the guest's memory"))
		}
	}), []api.ValueType{i32}, nil).Export(abi.InputRead).
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, m api.Module, stack []uint64) {
		ptr, n := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
		stateOf(ctx).out.write(uint64(n), func() ([]byte, bool) { return m.Memory().Read(ptr, n) })
	}), []api.ValueType{i32, i32}, nil).Export(abi.OutputWrite)
}

func (e *wazeroEngine) Name() plans.EngineName { return plans.EngineWazero }

func (e *wazeroEngine) Close(ctx context.Context) error {
	var err error
	e.compiling.Wait()
	if e.rt != nil {
		err = e.rt.Close(ctx)
	}
	if e.cache != nil {
		err = errors.Join(err, e.cache.Close(ctx))
	}
	return err
}

// Load checks that wasm is a code-node module the sandbox can run and compiles it. Errors wrap
// ErrInvalidModule, or ErrMemoryLimit when the module's initial memory exceeds the engine's
// maximum.
func (e *wazeroEngine) Load(ctx context.Context, wasm []byte) (Module, error) {
	if len(wasm) > e.cfg.maxModuleBytes {
		return nil, fmt.Errorf("%w: module is %d bytes, the limit is %d", ErrInvalidModule, len(wasm), e.cfg.maxModuleBytes)
	}
	wasm, err := checkStructure(wasm)
	if err != nil {
		return nil, err
	}
	return e.load(ctx, wasm)
}

// load is Load for a module checkStructure has passed.
func (e *wazeroEngine) load(ctx context.Context, wasm []byte) (Module, error) {
	info, err := readMemoryInfo(wasm)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidModule, err)
	}
	switch {
	case info.shared || info.mem64:
		return nil, fmt.Errorf("%w: shared and 64-bit memories are not supported", ErrInvalidModule)
	case info.count > 1:
		return nil, fmt.Errorf("%w: module declares %d memories", ErrInvalidModule, info.count)
	case uint64(info.minPages) > uint64(e.cfg.maxMemoryMiB)*16:
		return nil, fmt.Errorf("%w: initial memory of %d pages exceeds the engine maximum of %d MiB", ErrMemoryLimit, info.minPages, e.cfg.maxMemoryMiB)
	}
	compiled, err := e.compileModule(ctx, wasm)
	if err != nil {
		return nil, err
	}
	if err := e.checkImports(compiled, "_start"); err != nil {
		_ = compiled.Close(ctx)
		return nil, err
	}
	return &wazeroModule{e: e, compiled: compiled, minPages: info.minPages}, nil
}

// checkImports accepts only functions the sandbox provides, with their exact signatures, and
// the entry points a module of its kind needs as () -> () functions (_start for a command;
// abi.ReactorEntry and _initialize for a reactor): a module cannot ask for memory, tables or
// globals from outside.
func (e *wazeroEngine) checkImports(c wazero.CompiledModule, entries ...string) error {
	if len(c.ImportedMemories()) > 0 {
		return fmt.Errorf("%w: module imports a memory", ErrInvalidModule)
	}
	for _, def := range c.ImportedFunctions() {
		mod, name, _ := def.Import()
		host, ok := e.hostFuncs[mod+"\x00"+name]
		if !ok {
			return fmt.Errorf("%w: import %s.%s is not provided by the sandbox (only %s and %s functions are)", ErrInvalidModule, truncateMessage(mod), truncateMessage(name), wasiModuleName, abi.HostModule)
		}
		if !sameTypes(host.ParamTypes(), def.ParamTypes()) || !sameTypes(host.ResultTypes(), def.ResultTypes()) {
			return fmt.Errorf("%w: import %s.%s has the wrong signature", ErrInvalidModule, mod, name)
		}
	}
	for _, name := range entries {
		f, ok := c.ExportedFunctions()[name]
		if !ok || len(f.ParamTypes()) != 0 || len(f.ResultTypes()) != 0 {
			return fmt.Errorf("%w: module does not export a %s function () -> ()", ErrInvalidModule, name)
		}
	}
	return nil
}

func sameTypes(a, b []api.ValueType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

type wazeroModule struct {
	e        *wazeroEngine
	compiled wazero.CompiledModule
	minPages uint32
	once     sync.Once
}

func (m *wazeroModule) Close(ctx context.Context) error {
	var err error
	m.once.Do(func() { err = m.compiled.Close(ctx) })
	return err
}

// Call instantiates the module afresh, runs _start with input and closes the instance. On error
// the Result still carries Usage, Stdout and Stderr. When ctx itself ends, Call returns ctx's
// error (not a limit error): the caller stopped the call.
func (m *wazeroModule) Call(ctx context.Context, input []byte, lim Limits) (res Result, err error) {
	lim = lim.withDefaults()
	if lim.MemoryMiB > m.e.cfg.maxMemoryMiB {
		return res, fmt.Errorf("call: memory limit %d MiB exceeds the engine maximum of %d MiB", lim.MemoryMiB, m.e.cfg.maxMemoryMiB)
	}
	limitPages := lim.MemoryMiB * 16
	if m.minPages > limitPages {
		return res, fmt.Errorf("%w: initial memory of %d pages (%d KiB) exceeds the limit of %d MiB", ErrMemoryLimit, m.minPages, m.minPages*64, lim.MemoryMiB)
	}
	if uint64(len(input)) > 1<<32-1 {
		return res, fmt.Errorf("call: input of %d bytes is too large", len(input))
	}
	select {
	case m.e.sem <- struct{}{}:
		defer func() { <-m.e.sem }()
	case <-ctx.Done():
		return res, fmt.Errorf("call: %w", ctx.Err())
	}

	wasi := newWASIState(lim.MaxOutputBytes)
	state := &callState{wasi: wasi, input: input, out: callOutput{max: lim.MaxOutputBytes}}
	alloc := &limitedAllocator{limit: uint64(limitPages) * pageSize}
	stdout, stderr := wasi.stdout, wasi.stderr

	callCtx, cancel := context.WithTimeout(ctx, lim.Timeout)
	defer cancel()
	wasi.work = stopOnDone(callCtx)
	callCtx = context.WithValue(callCtx, callKey{}, state)
	callCtx = experimental.WithMemoryAllocator(callCtx, alloc)

	// Every field not set here keeps wazero's default, which is the sandbox's policy: no args,
	// no environment, no preopened directories, stdin at EOF, fake clocks, seeded randomness.
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithStdout(stdout).
		WithStderr(stderr).
		WithStartFunctions("_start")

	start := time.Now()
	runErr := m.instantiate(callCtx, cfg)
	res.Usage = Usage{Wall: time.Since(start), PeakMemoryPages: uint32(alloc.peak / pageSize)}
	res.Stdout, res.Stderr = stdout.Bytes(), stderr.Bytes()

	if ctx.Err() != nil {
		return res, fmt.Errorf("call: %w", ctx.Err())
	}
	if runErr != nil {
		return res, classify(runErr, alloc, stderr.buf, lim)
	}
	out, err := state.out.result()
	if err != nil {
		return res, err
	}
	res.Output = out
	return res, nil
}

// instantiate runs the module's start functions and always closes the instance.
func (m *wazeroModule) instantiate(ctx context.Context, cfg wazero.ModuleConfig) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: sandbox recovered from %v", ErrTrap, r)
		}
	}()
	mod, err := m.e.rt.InstantiateModule(ctx, m.compiled, cfg)
	if mod != nil {
		_ = mod.Close(context.WithoutCancel(ctx))
	}
	return err
}

// classify maps how an instance ended to exactly one sentinel. The allocator's record of a
// refused grow decides memory errors, not anything the guest printed.
func classify(err error, alloc *limitedAllocator, stderr []byte, lim Limits) error {
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		switch exit.ExitCode() {
		case sys.ExitCodeDeadlineExceeded, sys.ExitCodeContextCanceled:
			return fmt.Errorf("%w: call ran longer than %v", ErrTimeout, lim.Timeout)
		}
		switch {
		case alloc.refused || goOutOfMemory(stderr):
			return fmt.Errorf("%w: the guest needed more than %d MiB%s", ErrMemoryLimit, lim.MemoryMiB, detail(lineWith(stderr, "runtime: out of memory")))
		case goStackOverflow(stderr):
			return fmt.Errorf("%w%s", ErrStackOverflow, detail(lineWith(stderr, "runtime: goroutine stack exceeds")))
		}
		msg := firstLines(stderr, 3)
		if msg == "" {
			msg = "no message"
		}
		return fmt.Errorf("%w: guest exited with code %d: %s", ErrTrap, exit.ExitCode(), truncateMessage(msg))
	}
	if errors.Is(err, ErrTrap) {
		return err
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "stack overflow"):
		return fmt.Errorf("%w: the guest's call stack overflowed", ErrStackOverflow)
	case alloc.refused:
		return fmt.Errorf("%w: the guest needed more than %d MiB (%s)", ErrMemoryLimit, lim.MemoryMiB, truncateMessage(firstLine(msg)))
	}
	return fmt.Errorf("%w: %s", ErrTrap, truncateMessage(msg))
}

// goStackOverflow recognises the Go runtime's fatal error for a goroutine stack over its
// maximum (the SDK sets a maximum well under the memory limit so recursion fails as such).
func goStackOverflow(stderr []byte) bool {
	s := string(stderr)
	return strings.Contains(s, "\nfatal error: stack overflow") || strings.HasPrefix(s, "fatal error: stack overflow") ||
		strings.Contains(s, "runtime: goroutine stack exceeds ")
}

// goOutOfMemory recognises the Go runtime's fatal error for an allocation it cannot satisfy
// (it refuses requests beyond its address space without asking the host to grow memory).
func goOutOfMemory(stderr []byte) bool {
	s := string(stderr)
	return strings.HasPrefix(s, "fatal error: out of memory") || strings.Contains(s, "\nfatal error: out of memory")
}

// firstLines joins the first n non-empty lines of b: where the Go runtime puts the panic
// message, before the goroutine dump.
func firstLines(b []byte, n int) string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && len(out) < n {
			out = append(out, l)
		}
	}
	return strings.Join(out, " | ")
}

// lineWith returns the first line of b that starts with prefix, or "".
func lineWith(b []byte, prefix string) string {
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

func detail(s string) string {
	if s == "" {
		return ""
	}
	return " (" + truncateMessage(s) + ")"
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// limitedAllocator backs a call's linear memory and refuses to grow it past the call's limit,
// which the guest sees as a failed memory.grow. It also records the peak size.
type limitedAllocator struct {
	limit   uint64
	peak    uint64
	refused bool
}

func (a *limitedAllocator) Allocate(capacity, _ uint64) experimental.LinearMemory {
	return &limitedMemory{a: a, buf: make([]byte, 0, min(capacity, a.limit))}
}

type limitedMemory struct {
	a   *limitedAllocator
	buf []byte
}

func (m *limitedMemory) Reallocate(size uint64) []byte {
	if size > m.a.limit {
		m.a.refused = true
		return nil
	}
	if size > uint64(cap(m.buf)) {
		// Grow geometrically up to the limit so that a guest growing page by page does not
		// cost a copy per page.
		next := make([]byte, size, min(max(size, 2*uint64(cap(m.buf))), m.a.limit))
		copy(next, m.buf)
		m.buf = next
	} else {
		m.buf = m.buf[:size]
	}
	m.a.peak = max(m.a.peak, size)
	return m.buf
}

func (m *limitedMemory) Free() { m.buf = nil }
