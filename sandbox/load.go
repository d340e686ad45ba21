package sandbox

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	"github.com/tetratelabs/wazero"
)

// loadLimitsKey carries, in Load's context, the limits module initialisation runs under.
type loadLimitsKey struct{}

// WithLoadLimits returns ctx carrying lim for Engine.Load: the initialisation a load runs
// (a reactor's _initialize, pre-initialised once for a pool) gets the smaller of each of lim's
// Fuel, MemoryMiB and MaxOutputBytes and the initialisation budget (plans.DefaultFuel,
// plans.DefaultMemoryMiB, plans.DefaultMaxOutputBytes), and lim's Timeout, so that
// initialisation never has more than a call of the caller's would. Zero fields, or no
// WithLoadLimits, mean the defaults (plans.DefaultCodeTimeout for the timeout). The compilation itself ends when ctx does (its deadline
// included).
func WithLoadLimits(ctx context.Context, lim Limits) context.Context {
	return context.WithValue(ctx, loadLimitsKey{}, lim)
}

// loadLimits is the limits of initialisation under ctx (see WithLoadLimits).
func loadLimits(ctx context.Context) Limits {
	lim, _ := ctx.Value(loadLimitsKey{}).(Limits)
	def := Limits{}.withDefaults()
	if lim.Fuel == 0 || lim.Fuel > def.Fuel {
		lim.Fuel = def.Fuel
	}
	if lim.MemoryMiB == 0 || lim.MemoryMiB > def.MemoryMiB {
		lim.MemoryMiB = def.MemoryMiB
	}
	if lim.MaxOutputBytes <= 0 || lim.MaxOutputBytes > def.MaxOutputBytes {
		lim.MaxOutputBytes = def.MaxOutputBytes
	}
	if lim.Timeout <= 0 {
		lim.Timeout = def.Timeout
	}
	return lim
}

// loadError is the error of a load whose context ended: ErrTimeout when its deadline passed,
// else the context's error (the caller gave up).
func loadError(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: loading did not finish before the deadline: %w", ErrTimeout, ctx.Err())
	}
	return fmt.Errorf("load: %w", ctx.Err())
}

// compileSlotCount is how many compilations an engine runs at once, abandoned ones included:
// a caller retrying a slow module with short deadlines must not stack up compilations, each up
// to seconds and a few hundred MiB at the structural limits.
func compileSlotCount() int { return max(4, runtime.GOMAXPROCS(0)) }

// compileModule compiles wasm in e's runtime and gives up when ctx ends. wazero's compiler does
// not look at its context, so an abandoned compilation runs on in the background until it ends
// by itself and its result is closed; checkStructure bounds how long and how much memory that
// can take (seconds and a few hundred MiB at the structural limits), each holds one of the
// engine's compile slots until it ends (a load finding none free waits for one or for its ctx),
// and Close waits for it.
func (e *wazeroEngine) compileModule(ctx context.Context, wasm []byte) (wazero.CompiledModule, error) {
	if ctx.Err() != nil {
		return nil, loadError(ctx)
	}
	select {
	case e.compileSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, loadError(ctx)
	}
	type result struct {
		c   wazero.CompiledModule
		err error
	}
	done := make(chan result) // unbuffered: a send succeeds only while Load still waits
	abandoned := make(chan struct{})
	e.compiling.Add(1)
	go func() {
		defer e.compiling.Done()
		defer func() { <-e.compileSlots }()
		c, err := e.rt.CompileModule(context.WithoutCancel(ctx), wasm)
		select {
		case done <- result{c, err}:
		case <-abandoned:
			if c != nil {
				_ = c.Close(context.Background())
			}
			e.abandoned.Add(-1)
		}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("%w: %s", ErrInvalidModule, truncateMessage(r.err.Error()))
		}
		e.trim.maybeTrim() // what this compilation wrote to the cache counts from now
		return r.c, nil
	case <-ctx.Done():
		e.abandoned.Add(1)
		close(abandoned)
		return nil, loadError(ctx)
	}
}
