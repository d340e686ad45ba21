package runtime

import (
	"context"
	"fmt"

	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/sandbox"
	"github.com/sgde-project/sgde/wasm"
)

// NewSandbox starts the named engine (sandbox.New with engineOpts) and the code-node builder
// matched to it (NewBuilderFor with builderOpts): what Options.Engine and Options.Builder
// want. The caller closes the engine.
func NewSandbox(ctx context.Context, name plans.EngineName, engineOpts []sandbox.Option, builderOpts ...wasm.BuilderOption) (sandbox.Engine, *wasm.Builder, error) {
	eng, err := sandbox.New(ctx, name, engineOpts...)
	if err != nil {
		return nil, nil, err
	}
	b, err := NewBuilderFor(eng, builderOpts...)
	if err != nil {
		_ = eng.Close(ctx)
		return nil, nil, err
	}
	return eng, b, nil
}

// NewBuilder returns the builder matched to the named engine as sandbox.New starts it by
// default (fuel-metered), for callers that build before the engine exists (serve prepares
// plans before any tenant's engine starts): NewBuilderFor's rule, decided by
// sandbox.ServesReactors.
func NewBuilder(name plans.EngineName, opts ...wasm.BuilderOption) (*wasm.Builder, error) {
	if sandbox.ServesReactors(name, sandbox.MeterFuel) {
		opts = append(opts, wasm.WithReactor())
	}
	return wasm.NewBuilder(opts...)
}

// NewBuilderFor returns the builder matched to eng: nodes are built as reactors where eng
// pre-initialises them once and serves calls from pooled instances restored to that snapshot
// (sandbox.PreinitialisesReactors: the fuel-metered wazero engine on Linux), and as commands,
// run in a fresh instance per call, everywhere else. Both start every call from the same clean
// state (docs/RATIONALE.md, "Reactor builds by default on wazero"). opts asking for reactors
// (wasm.WithReactor) for another engine are refused, as New refuses such a pair.
func NewBuilderFor(eng sandbox.Engine, opts ...wasm.BuilderOption) (*wasm.Builder, error) {
	if sandbox.PreinitialisesReactors(eng) {
		opts = append(opts, wasm.WithReactor())
	}
	b, err := wasm.NewBuilder(opts...)
	if err != nil {
		return nil, err
	}
	if err := checkPair(eng, b); err != nil {
		return nil, err
	}
	return b, nil
}

// checkPair refuses a builder that makes reactors for an engine that cannot run them: every
// call of every code node would fail to load.
func checkPair(eng sandbox.Engine, b Builder) error {
	r, ok := b.(interface{ Reactor() bool })
	if eng == nil || !ok || !r.Reactor() || sandbox.PreinitialisesReactors(eng) {
		return nil
	}
	return fmt.Errorf("the builder makes reactors, which the %s engine does not run (only the fuel-metered wazero engine on Linux does): %w", eng.Name(), sandbox.ErrEngineUnavailable)
}
