package main

import (
	"context"
	"fmt"
	"sync"

	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/sandbox"
	"github.com/sgde-project/sgde/wasm"
)

// builders hands out one code-node builder per engine. Builders hold no tenant data (their
// artefacts are content-addressed), so serve shares them between tenants.
type builders struct {
	mu sync.Mutex
	m  map[string]builderResult
}

type builderResult struct {
	b   *wasm.Builder
	err error
}

// get returns the engine's builder, made on first use; a failure (no Go toolchain) is kept.
func (bs *builders) get(engine string) (*wasm.Builder, error) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if bs.m == nil {
		bs.m = map[string]builderResult{}
	}
	br, ok := bs.m[engine]
	if !ok {
		br.b, br.err = newBuilder(plans.EngineName(engine))
		bs.m[engine] = br
	}
	return br.b, br.err
}

// newRunner is the one place a runner is assembled, for run, eval, compile and serve: opts
// carries the student and the response cache (owned by the caller), and, when engine is set, a
// sandbox engine of that name and its matched builder are added for code nodes (from bs when
// runners share builders). release closes the runner and the engine, not the cache or the
// client.
func newRunner(ctx context.Context, opts runtime.Options, engine string, bs *builders) (_ *runtime.Runner, release func(), err error) {
	var eng sandbox.Engine
	switch {
	case engine == "":
	case bs == nil:
		// One runner: the sandbox's matched engine and builder.
		e, b, err := newSandbox(ctx, plans.EngineName(engine))
		if err != nil {
			return nil, nil, fmt.Errorf("code nodes: %w", err)
		}
		eng, opts.Engine, opts.Builder = e, e, b
	default:
		// Runners sharing builders (serve's tenants): the builder matched to the engine's name.
		b, err := bs.get(engine)
		if err != nil {
			return nil, nil, fmt.Errorf("code nodes: %w", err)
		}
		// The engine keeps compiled machine code under the cache root: the next run skips the
		// compiler.
		if eng, err = newEngine(ctx, plans.EngineName(engine)); err != nil {
			return nil, nil, fmt.Errorf("code nodes: %w", err)
		}
		opts.Engine, opts.Builder = eng, b
	}
	r, err := runtime.New(opts)
	if err != nil {
		if eng != nil {
			eng.Close(context.Background())
		}
		return nil, nil, err
	}
	return r, func() {
		r.Close(context.Background())
		if eng != nil {
			eng.Close(context.Background())
		}
	}, nil
}
