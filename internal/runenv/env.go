package runenv

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/sgde-project/sgde/internal/cachedir"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/cache"
	"github.com/sgde-project/sgde/runtime/llm"
	"github.com/sgde-project/sgde/runtime/trace"
)

// Config is the settings of the commands that run plans (sgde run and eval).
type Config struct {
	// CacheMode is a cache.ParseMode word; "" is cache.ModeUse.
	CacheMode string
	// CachePath is the response cache file; "" means responses.db under the cache root. "off"
	// (a mode word, when no file has that name) turns the cache off.
	CachePath string
	// Student is the student client's configuration; its URL may be empty in replay mode.
	Student llm.Config
	// Concurrency bounds node executions in flight.
	Concurrency int
	// Engine is the --engine setting; "" means the plan's defaults.engine, else wazero.
	Engine string
	// Traces, when set, is a file each plan run appends one JSON line to.
	Traces string
	// Warnings (a corrupt cache moved aside) are written here.
	Warnings io.Writer
}

// Env is what a command needs to run plans. Close releases it.
type Env struct {
	// Runner runs the plan Open was given.
	Runner *runtime.Runner
	// Traces is the traces file's writer; nil without Config.Traces.
	Traces *trace.Writer
	close  func()
}

// Close releases the runner, the engine, the traces file and the cache, in the reverse order
// of their opening.
func (e *Env) Close() { e.close() }

// then adds a release step; Close runs the steps in the reverse order of their adding.
func (e *Env) then(f func()) {
	prev := e.close
	e.close = func() { f(); prev() }
}

// Open builds the runner for p from cfg. Only what p needs is set up: a plan without code
// nodes needs no Go toolchain, and replay mode needs no endpoint.
func Open(ctx context.Context, cfg Config, p *plans.Plan) (_ *Env, err error) {
	e := &Env{close: func() {}}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	mode := cache.ModeUse
	if cfg.CacheMode != "" {
		mode, err = cache.ParseMode(cfg.CacheMode)
	}
	if err != nil {
		return nil, settingf("--cache-mode: %v", err)
	}
	if err := cachePathIsNotMode(cfg.CachePath); err != nil {
		if cfg.CachePath != string(cache.ModeOff) {
			return nil, err
		}
		mode = cache.ModeOff // "--cache off" says what it means
	}
	url, model := cfg.Student.BaseURL(), cfg.Student.Model()
	opts := runtime.Options{CacheMode: mode, Concurrency: cfg.Concurrency, Model: model}
	if mode != cache.ModeOff {
		path := cfg.CachePath
		if path == "" {
			root, err := cachedir.Root()
			if err != nil {
				return nil, err
			}
			path = filepath.Join(root, "responses.db")
		}
		cc, err := cache.Open(path, 5*time.Second)
		if err != nil {
			return nil, err
		}
		if cfg.Warnings != nil {
			cc.WarnMovedAside(cfg.Warnings, path)
		}
		e.then(func() { cc.Close() })
		opts.Cache = cc
	}
	if p.Uses(plans.SubstrateLLM) {
		switch {
		case model == "":
			return nil, settingf("the plan has llm nodes: set --student-model or SGDE_STUDENT_MODEL")
		case url == "" && mode != cache.ModeReplay:
			return nil, settingf("the plan has llm nodes: set --student-url or SGDE_STUDENT_URL (or --cache-mode replay to run offline)")
		case url != "":
			client, err := llm.New(cfg.Student)
			if err != nil {
				return nil, &SettingError{err}
			}
			opts.Student = client
		}
	}
	var engine plans.EngineName
	if p.Uses(plans.SubstrateCode) {
		if engine, err = PlanEngine(cfg.Engine, p); err != nil {
			return nil, err
		}
	}
	r, release, err := NewRunner(ctx, opts, string(engine), nil)
	if err != nil {
		return nil, err
	}
	e.then(release)
	e.Runner = r
	if cfg.Traces != "" {
		f, err := os.OpenFile(cfg.Traces, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("traces: %w", err)
		}
		e.then(func() { f.Close() })
		e.Traces = trace.NewWriter(f)
	}
	return e, nil
}

// cachePathIsNotMode refuses a cache path that is a cache mode word: "--cache off" would
// otherwise create a database named "off".
func cachePathIsNotMode(path string) error {
	if _, err := cache.ParseMode(path); err != nil || path == "" {
		return nil
	}
	if _, err := os.Stat(path); err == nil {
		return nil // an existing file of that name is what the user means
	}
	return settingf("--cache takes a database file, not %q: did you mean --cache-mode %s?", path, path)
}
