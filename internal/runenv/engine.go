package runenv

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/sgde-project/sgde/internal/cachedir"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/sandbox"
	"github.com/sgde-project/sgde/wasm"
)

// SettingError marks an error as a wrong setting given by the caller (the CLI's usage error,
// exit 2), as opposed to a failure of the machine or of a file the plan names.
type SettingError struct{ Err error }

func (e *SettingError) Error() string { return e.Err.Error() }

// Unwrap returns the error the setting caused.
func (e *SettingError) Unwrap() error { return e.Err }

// settingf builds a *SettingError.
func settingf(format string, args ...any) error {
	return &SettingError{fmt.Errorf(format, args...)}
}

// ChooseEngine resolves the engine name: the flag when given, else the plan's default, else
// wazero. A bad flag value is a *SettingError; a bad plan value cannot pass plan validation.
func ChooseEngine(flag, planDefault string) (plans.EngineName, error) {
	if flag != "" {
		name, err := plans.ParseEngineName(flag)
		if err != nil {
			return "", settingf("--engine must be %s or %s, got %q", plans.EngineWazero, plans.EngineWasmtime, flag)
		}
		return name, nil
	}
	name, err := plans.ParseEngineName(planDefault)
	if err != nil {
		return "", fmt.Errorf("plan asks for engine: %w", err)
	}
	return name, nil
}

// PlanEngine is ChooseEngine for p: the flag, else p's defaults.engine, else wazero.
func PlanEngine(flag string, p *plans.Plan) (plans.EngineName, error) {
	planEngine := ""
	if p.Defaults != nil {
		planEngine = p.Defaults.Engine
	}
	return ChooseEngine(flag, planEngine)
}

// ServedEngine is the engine sgde serve runs p on: PlanEngine's rule, checked against this
// build when the plans folder is loaded, so that a plan asking for an engine the binary lacks
// stops the start or the reload instead of failing its calls. A plan without code nodes (or a
// nil p) needs no engine of its own and gets the flag's engine, which must be available too.
func ServedEngine(flag string, p *plans.Plan) (plans.EngineName, error) {
	if p == nil || !p.Uses(plans.SubstrateCode) {
		name, err := ChooseEngine(flag, "")
		if err != nil {
			return "", err
		}
		if err := sandbox.Available(name); err != nil {
			return "", fmt.Errorf("--engine %s: %w", name, err)
		}
		return name, nil
	}
	name, err := PlanEngine(flag, p)
	if err != nil {
		return "", err
	}
	if err := sandbox.Available(name); err != nil {
		return "", fmt.Errorf("defaults.engine is %s: %w, or serve it with --engine %s", name, err, plans.EngineWazero)
	}
	return name, nil
}

// EngineOptions are the options every command starts the named engine with: its compile
// cache under the cache root (none when the cache root cannot be found), then extra.
func EngineOptions(name plans.EngineName, extra ...sandbox.Option) []sandbox.Option {
	var opts []sandbox.Option
	if root, err := cachedir.Root(); err == nil {
		dir := filepath.Join(root, string(name))
		wasm.TrimCache(dir, wasm.DefaultCompileCacheMaxBytes) // compiled code of old modules goes first
		opts = append(opts, sandbox.WithCompilationCacheDir(dir))
	}
	return append(opts, extra...)
}

// NewEngine starts the named engine with EngineOptions(name, extra...): fuel-metered unless
// extra says otherwise, keeping compiled machine code under the cache root so that the next
// run skips the compiler. An unknown name is a *SettingError. The caller closes the engine.
func NewEngine(ctx context.Context, name plans.EngineName, extra ...sandbox.Option) (sandbox.Engine, error) {
	eng, err := sandbox.New(ctx, name, EngineOptions(name, extra...)...)
	if errors.Is(err, plans.ErrUnknownEngine) {
		return nil, settingf("--engine must be %s or %s, got %q", plans.EngineWazero, plans.EngineWasmtime, name)
	}
	return eng, err
}

// Builders hands out one code-node builder per engine, matched to the engine as NewEngine
// starts it (runtime.NewBuilder: reactors for wazero on Linux, commands elsewhere). Builders
// hold no tenant data (their artefacts are content-addressed), so serve shares them between
// tenants. The zero value is ready to use.
type Builders struct {
	mu sync.Mutex
	m  map[string]builderResult
}

type builderResult struct {
	b   *wasm.Builder
	err error
}

// Get returns the engine's builder, made on first use; a failure (no Go toolchain) is kept.
func (bs *Builders) Get(engine string) (*wasm.Builder, error) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if bs.m == nil {
		bs.m = map[string]builderResult{}
	}
	br, ok := bs.m[engine]
	if !ok {
		br.b, br.err = runtime.NewBuilder(plans.EngineName(engine))
		bs.m[engine] = br
	}
	return br.b, br.err
}

// NewRunner is the one place a runner is assembled: opts carries the student and the response
// cache (owned by the caller), and, when engine is set, a sandbox engine of that name and its
// matched builder are added for code nodes (from bs when runners share builders, as serve's
// tenants do; bs may be nil). release closes the runner and the engine, not the cache or the
// client.
func NewRunner(ctx context.Context, opts runtime.Options, engine string, bs *Builders) (_ *runtime.Runner, release func(), err error) {
	var eng sandbox.Engine
	switch {
	case engine == "":
	case bs == nil:
		// One runner: the sandbox's matched engine and builder.
		e, b, err := runtime.NewSandbox(ctx, plans.EngineName(engine), EngineOptions(plans.EngineName(engine)))
		if err != nil {
			return nil, nil, fmt.Errorf("code nodes: %w", err)
		}
		eng, opts.Engine, opts.Builder = e, e, b
	default:
		// Runners sharing builders: the builder matched to the engine's name.
		b, err := bs.Get(engine)
		if err != nil {
			return nil, nil, fmt.Errorf("code nodes: %w", err)
		}
		if eng, err = NewEngine(ctx, plans.EngineName(engine)); err != nil {
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

// NewRunner is the package's NewRunner with bs's builders, in the shape serve's RunnerSetup
// takes.
func (bs *Builders) NewRunner(ctx context.Context, opts runtime.Options, engine string) (*runtime.Runner, func(), error) {
	return NewRunner(ctx, opts, engine, bs)
}

// CheckCode checks p's code nodes, router branches included: each source parses and imports
// only what the sandbox allows and, with build set, builds with the builder matched to the
// engine p asks for (slow on a cold cache), as sgde validate --build promises.
func CheckCode(ctx context.Context, p *plans.Plan, build bool) error {
	var bad error
	p.Walk(func(_ *plans.Plan, n *plans.Node) {
		if bad == nil && n.Substrate == plans.SubstrateCode && n.Code != nil {
			if err := wasm.Validate([]byte(n.Code.SourceText()), n.ID+".go"); err != nil {
				bad = fmt.Errorf("node %q: %w", n.ID, err)
			}
		}
	})
	if bad != nil || !build || !p.Uses(plans.SubstrateCode) {
		return bad
	}
	name, err := PlanEngine("", p)
	if err != nil {
		return err
	}
	b, err := runtime.NewBuilder(name)
	if err != nil {
		return fmt.Errorf("--build: %w", err)
	}
	_, _, err = runtime.BuildCode(ctx, b, p)
	return err
}
