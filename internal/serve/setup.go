package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/sgde-project/sgde/internal/cachedir"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/cache"
	"github.com/sgde-project/sgde/runtime/llm"
	"github.com/sgde-project/sgde/wasm"
)

// RunnerSetup is how sgde serve's tenant runners are made, from its command line: where the
// per-tenant response caches live, the student, and the engine and builder functions of the
// caller's engine rules.
type RunnerSetup struct {
	// CacheMode applies to every tenant's cache; it is forced off without a student model
	// (the cache is keyed by model).
	CacheMode cache.Mode
	// Redis, when set, holds the response caches (shared by every replica) with CacheOptions;
	// otherwise each tenant has a bbolt file responses-TENANT.db in CacheDir ("" means
	// <cache root>/serve).
	Redis        *Redis
	CacheOptions CacheOptions
	CacheDir     string
	// Student configures each tenant's student client; no URL or no model means no student.
	Student     llm.Config
	Concurrency int
	// DefaultEngine is the engine of plans without code nodes and of runners asked for with "".
	DefaultEngine string
	// Builder returns the builder shared by every tenant for an engine (made once); an error
	// means code nodes cannot be built on it (no Go toolchain).
	Builder func(engine string) (*wasm.Builder, error)
	// NewRunner assembles a runner for engine from opts with Builder's builder; engine ""
	// means no code nodes.
	NewRunner func(ctx context.Context, opts runtime.Options, engine string) (*runtime.Runner, func(), error)
	Log       *slog.Logger
	// Warnings (a corrupt cache moved aside) are written here.
	Warnings io.Writer
}

// NoStudent reports whether the setup has no way to answer llm nodes: no student model, or
// no endpoint and not a replay of a cache keyed by the model (Options.NoStudent).
func (s RunnerSetup) NoStudent() bool {
	return s.Student.Model() == "" || (s.Student.BaseURL() == "" && s.CacheMode != cache.ModeReplay)
}

// CacheStore returns where the response caches live for a --cache-store value: nil for
// "file" (bbolt files in RunnerSetup.CacheDir), state for "redis" (it must be set). An error
// is a wrong setting.
func CacheStore(store string, state *Redis) (*Redis, error) {
	switch store {
	case "file":
		return nil, nil
	case "redis":
		if state == nil {
			return nil, errors.New("--cache-store redis needs --state redis://HOST:PORT/DB")
		}
		return state, nil
	}
	return nil, fmt.Errorf("--cache-store must be file or redis, got %q", store)
}

// NewRunners returns the factory of tenant runners (a Pool) and the function that builds a
// plan's code nodes into the shared builder's artefact cache before the plan is served, so
// that a plan whose code does not build is refused and no first request waits.
func NewRunners(s RunnerSetup) (RunnerFactory, func(context.Context, *plans.Plan, string) error, error) {
	mode := s.CacheMode
	if mode != cache.ModeOff && s.Student.Model() == "" {
		mode = cache.ModeOff // the cache is keyed by model; without a student there is nothing to cache
	}
	cacheDir := s.CacheDir
	if cacheDir == "" && mode != cache.ModeOff && s.Redis == nil {
		root, err := cachedir.Root()
		if err != nil {
			return nil, nil, err
		}
		cacheDir = filepath.Join(root, "serve")
	}
	if cacheDir != "" {
		if err := os.MkdirAll(cacheDir, 0o700); err != nil {
			return nil, nil, err
		}
	}
	if _, err := s.Builder(s.DefaultEngine); err != nil {
		s.Log.Warn("code nodes cannot be built: plans with code nodes will fail", "engine", s.DefaultEngine, "err", err.Error())
	}
	popts := PoolOptions{
		Runner:        runtime.Options{CacheMode: mode, Concurrency: s.Concurrency, Model: s.Student.Model()},
		DefaultEngine: s.DefaultEngine,
		NewRunner: func(ctx context.Context, opts runtime.Options, engine string) (*runtime.Runner, func(), error) {
			if _, err := s.Builder(engine); err != nil {
				engine = "" // no toolchain: the runner serves plans without code nodes
			}
			return s.NewRunner(ctx, opts, engine)
		},
	}
	if mode != cache.ModeOff {
		popts.OpenCache = func(tenant string) (cache.Store, func(), error) {
			if s.Redis != nil {
				return s.Redis.ResponseCache(tenant, s.CacheOptions), nil, nil
			}
			path := filepath.Join(cacheDir, "responses-"+tenant+".db")
			cc, err := cache.Open(path, 5*time.Second)
			if err != nil {
				return nil, nil, err
			}
			cc.WarnMovedAside(s.Warnings, path)
			return cc, func() { cc.Close() }, nil
		}
	}
	if s.Student.BaseURL() != "" && s.Student.Model() != "" {
		popts.NewStudent = func() (*llm.Client, error) { return llm.New(s.Student) }
	}
	prepare := func(ctx context.Context, p *plans.Plan, engine string) error {
		if engine == "" {
			engine = s.DefaultEngine
		}
		builder, err := s.Builder(engine)
		if err != nil {
			return fmt.Errorf("code nodes cannot be built: %w", err)
		}
		start := time.Now()
		built, cached, err := runtime.BuildCode(ctx, builder, p)
		if err != nil {
			return err
		}
		s.Log.Info("code nodes ready", "plan", p.Metadata.Name, "nodes", built, "from_cache", cached, "seconds", time.Since(start).Seconds())
		return nil
	}
	return NewPool(popts).Runner, prepare, nil
}
