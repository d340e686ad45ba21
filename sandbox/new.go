package sandbox

import (
	"context"
	"fmt"

	"github.com/sgde-project/sgde/plans"
)

// Metering is how an engine bounds the CPU a call may use.
type Metering int

const (
	// MeterFuel, the default, bounds every call by deterministic fuel and call depth (modules
	// are instrumented at Load) and by Limits.Timeout, checked between fuel slices. It is the
	// only mode for untrusted code.
	MeterFuel Metering = iota
	// MeterWallClock (wazero only) meters no fuel: wazero's WithCloseOnContextDone stops a call
	// at its timeout, a bound that depends on the machine's load and slows tight loops many
	// times over (docs/BENCHMARKS.md). Kept for comparisons and the unmetered test corpus.
	MeterWallClock
	// MeterNone (wazero only) has no CPU bound at all: a guest that never ends hangs its caller
	// and stalls the host's garbage collector. For benchmarking trusted code only.
	MeterNone
)

// WithMetering selects how the engine bounds CPU (default MeterFuel).
func WithMetering(m Metering) Option {
	return func(c *engineConfig) { c.metering = m }
}

// New starts the named engine ("" is not a name: resolve it with plans.ParseEngineName or
// Plan.Engine). By default it meters fuel; anything else must be asked for with WithMetering.
// An engine this binary cannot start returns ErrEngineUnavailable.
func New(ctx context.Context, name plans.EngineName, opts ...Option) (Engine, error) {
	var cfg engineConfig
	for _, o := range opts {
		o(&cfg)
	}
	switch name {
	case plans.EngineWazero:
		switch cfg.metering {
		case MeterFuel:
			return newMeteredWazero(ctx, opts)
		case MeterWallClock:
			return newWallClockWazero(ctx, opts)
		case MeterNone:
			return newTrustedWazero(ctx, opts)
		}
		return nil, fmt.Errorf("new engine %s: unknown metering %d", name, cfg.metering)
	case plans.EngineWasmtime:
		if cfg.metering != MeterFuel {
			return nil, fmt.Errorf("new engine %s: %w: it always meters fuel", name, ErrEngineUnavailable)
		}
		return newWasmtimeEngine(ctx, cfg)
	}
	return nil, fmt.Errorf("new engine: %w %q", plans.ErrUnknownEngine, name)
}

// Available returns nil when New can start the named engine in this binary: an error wrapping
// ErrEngineUnavailable for wasmtime in a build without it, plans.ErrUnknownEngine for a name
// that is no engine. It starts nothing.
func Available(name plans.EngineName) error {
	switch name {
	case plans.EngineWazero:
		return nil
	case plans.EngineWasmtime:
		return errNoWasmtime
	}
	return fmt.Errorf("%w %q", plans.ErrUnknownEngine, name)
}

// ServesReactors reports whether New(ctx, name, WithMetering(m)) starts an engine that
// PreinitialisesReactors: only the fuel-metered wazero engine on Linux. It starts nothing.
func ServesReactors(name plans.EngineName, m Metering) bool {
	return name == plans.EngineWazero && m == MeterFuel && reactorsSupported
}

// PreinitialisesReactors reports whether e serves reactor modules (wasm.WithReactor) from
// pre-initialised snapshots: only the fuel-metered wazero engine on Linux does. Every other
// engine needs command modules; NewCodeSandbox in package runtime matches the builder to it.
func PreinitialisesReactors(e Engine) bool {
	m, ok := e.(*meteredEngine)
	return ok && m.meter && reactorsSupported
}
