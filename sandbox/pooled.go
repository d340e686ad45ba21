//go:build linux

package sandbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/sandbox/internal/preinit"
	"github.com/sgde-project/sgde/wasm/abi"
)

// reactorsSupported: pooled instances need Linux's mmap and madvise (pooled_other.go).
const reactorsSupported = true

// loadReactor pre-initialises a metered reactor module (it exports _initialize and
// abi.ReactorEntry, and no _start): it runs the Go runtime and package initialisation once under
// the load limits (loadLimits: the caller's, each capped at DefaultFuel, DefaultMemoryMiB and
// DefaultTimeout), snapshots the result and keeps a pool of instances restored to the snapshot
// after every call. An initialiser that never ends fails with ErrFuelExhausted or ErrTimeout;
// one that needs more memory than it may have fails with ErrTrap or ErrMemoryLimit.
func (e *meteredEngine) loadReactor(ctx context.Context, rewritten []byte) (Module, error) {
	b := e.base
	info, err := readMemoryInfo(rewritten)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidModule, err)
	}
	switch {
	case info.shared || info.mem64:
		return nil, fmt.Errorf("%w: shared and 64-bit memories are not supported", ErrInvalidModule)
	case info.count != 1:
		return nil, fmt.Errorf("%w: module declares %d memories", ErrInvalidModule, info.count)
	case uint64(info.minPages) > uint64(b.cfg.maxMemoryMiB)*16:
		return nil, fmt.Errorf("%w: initial memory of %d pages exceeds the engine maximum of %d MiB", ErrMemoryLimit, info.minPages, b.cfg.maxMemoryMiB)
	}
	compiled, err := b.compileModule(ctx, rewritten)
	if err != nil {
		return nil, err
	}
	err = b.checkImports(compiled, abi.ReactorEntry, abi.ReactorInit)
	_ = compiled.Close(ctx)
	if err != nil {
		return nil, err
	}

	maxBytes := uint64(b.cfg.maxMemoryMiB) * 16 * pageSize
	// Initialisation gets the default memory limit: the snapshot is held in host memory and in
	// a temporary file, and every call's limit must allow for it. wazero panics if an allocator
	// refuses the initial memory, so that is checked first.
	ll := loadLimits(ctx)
	initLimit := min(maxBytes, uint64(ll.MemoryMiB)<<20)
	if uint64(info.minPages)*pageSize > initLimit {
		return nil, fmt.Errorf("%w: initial memory of %d pages exceeds the %d MiB a reactor may initialise in", ErrMemoryLimit, info.minPages, initLimit>>20)
	}
	wasi := newWASIState(ll.MaxOutputBytes)
	// The initialiser's wall time starts when it does (meter.Start), after TakeMetered has
	// compiled its probe module: that compilation is bounded by ctx (the load's deadline), and
	// counting it here failed good modules on a loaded machine or under -race.
	meter := newFuelMeter(int64(ll.Fuel), time.Time{})
	meter.timeout = ll.Timeout
	state := &callState{wasi: wasi, out: callOutput{max: ll.MaxOutputBytes}, meter: meter}
	initCtx := ctx
	wasi.work = func(n int64) { meter.charge(initCtx, n) }
	initCtx = context.WithValue(initCtx, callKey{}, state)
	initCtx = experimental.WithMemoryAllocator(initCtx, &limitedAllocator{limit: initLimit})
	cfg := wazero.NewModuleConfig().WithName("").
		WithStdout(&cappedWriter{max: plans.DefaultMaxOutputBytes}).
		WithStderr(&cappedWriter{max: plans.DefaultMaxOutputBytes})
	im, err := func() (im *preinit.Image, err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("sandbox recovered from %v", r)
			}
		}()
		return preinit.TakeMetered(initCtx, b.rt, rewritten, meter, cfg, nil)
	}()
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, loadError(ctx)
	case err != nil && meter.stopped:
		return nil, fmt.Errorf("%w: package initialisation ran longer than %v", ErrTimeout, ll.Timeout)
	case errors.Is(err, preinit.ErrInitFuel):
		return nil, fmt.Errorf("%w: package initialisation did not finish within %d fuel (%v)", ErrFuelExhausted, ll.Fuel, err)
	case errors.Is(err, preinit.ErrUnsupported):
		return nil, fmt.Errorf("%w: %v", ErrInvalidModule, err)
	case err != nil:
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: initialisation failed: %s", ErrTrap, truncateMessage(err.Error()))
	}
	// The clocks continue from where initialisation left them (the Go runtime crashes when its
	// monotonic clock goes back); sgde's WASI kept them in state, not in the instance.
	im.Nanotime, im.Walltime = wasi.nano+wasiFakeClockStep, wasi.wall+wasiFakeClockStep
	pool, err := preinit.NewPool(ctx, b.rt, im, maxBytes, b.cfg.maxConcurrency)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	return &pooledModule{e: b, pool: pool, minPages: im.Pages, nano: im.Nanotime, wall: im.Walltime}, nil
}

// pooledModule is a pre-initialised code node: calls run on pooled instances restored to the
// snapshot, so every call starts from exactly the state after initialisation.
type pooledModule struct {
	e        *wazeroEngine
	pool     *preinit.Pool
	minPages uint32
	// nano and wall are the clocks' next readings after initialisation: every call starts its
	// WASI state from them.
	nano, wall int64
}

func (m *pooledModule) Close(ctx context.Context) error { return m.pool.Close(ctx) }

// Call runs abi.ReactorEntry on a pooled instance under lim, as meteredModule.Call runs _start on a
// fresh one.
func (m *pooledModule) Call(ctx context.Context, input []byte, lim Limits) (res Result, err error) {
	c, release, err := startMeteredCall(ctx, m.e, input, lim, m.minPages)
	if err != nil {
		return res, err
	}
	defer release()
	c.state.wasi.nano, c.state.wasi.wall = m.nano-wasiFakeClockStep, m.wall-wasiFakeClockStep
	start := time.Now()
	pr, callErr := func() (pr preinit.CallResult, err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%w: sandbox recovered from %v", ErrTrap, r)
			}
		}()
		return m.pool.Call(c.ctx, abi.ReactorEntry, preinit.CallOptions{
			Meter:       c.state.meter,
			Stdout:      c.stdout,
			Stderr:      c.stderr,
			MemoryLimit: c.alloc.limit,
		})
	}()
	wall := time.Since(start)
	c.alloc.peak, c.alloc.refused = pr.PeakBytes, pr.Refused
	return c.finish(ctx, c.state.meter.outcome(callErr, pr.Fuel), wall)
}

// isReactor reports whether wasm exports _initialize and abi.ReactorEntry and no _start.
func isReactor(wasm []byte) bool {
	names, err := exportNames(wasm)
	return err == nil && names[abi.ReactorInit] && names[abi.ReactorEntry] && !names["_start"]
}

// exportNames scans the export section of a module for its exported names.
func exportNames(b []byte) (map[string]bool, error) {
	if len(b) < len(wasmMagic) || string(b[:len(wasmMagic)]) != string(wasmMagic) {
		return nil, errors.New("not a WebAssembly binary module")
	}
	r := binReader{b: b, off: len(wasmMagic)}
	for r.off < len(r.b) {
		id, err := r.byte()
		if err != nil {
			return nil, err
		}
		size, err := r.u32()
		if err != nil {
			return nil, err
		}
		if uint64(size) > uint64(len(r.b)-r.off) {
			return nil, fmt.Errorf("section %d runs past the end of the module", id)
		}
		body := binReader{b: r.b[r.off : r.off+int(size)]}
		r.off += int(size)
		if id != 7 {
			continue
		}
		n, err := body.u32()
		if err != nil {
			return nil, err
		}
		names := map[string]bool{}
		for i := uint32(0); i < n; i++ {
			l, err := body.u32()
			if err != nil {
				return nil, err
			}
			if uint64(l) > uint64(len(body.b)-body.off) {
				return nil, errors.New("export name runs past its section")
			}
			name := string(body.b[body.off : body.off+int(l)])
			body.off += int(l)
			if _, err := body.byte(); err != nil {
				return nil, err
			}
			if _, err := body.u32(); err != nil {
				return nil, err
			}
			names[name] = true
		}
		return names, nil
	}
	return map[string]bool{}, nil
}
