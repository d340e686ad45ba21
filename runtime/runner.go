package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime/cache"
	"github.com/sgde-project/sgde/runtime/llm"
	"github.com/sgde-project/sgde/runtime/trace"
	"github.com/sgde-project/sgde/sandbox"
	"github.com/sgde-project/sgde/wasm"
)

// Builder turns a code node's Go source into a WebAssembly module. *wasm.Builder implements it.
type Builder interface {
	Build(ctx context.Context, src []byte, name string) (*wasm.Artifact, error)
}

// Options configures a Runner. New copies it: changing an Options value later has no effect.
type Options struct {
	// Student answers llm nodes (an *llm.Client, or a fake in tests). Required for plans with
	// llm or consensus nodes.
	Student llm.Completer
	// Model names the student model in cache keys. It defaults to the model of an *llm.Client
	// Student and is required whenever the cache is used.
	Model string
	// Cache stores student responses (a *cache.Cache file, or a store replicas share); nil
	// means no cache (CacheMode must then be "" or off).
	Cache     cache.Store
	CacheMode cache.Mode
	// Engine and Builder run code nodes. Required for plans with code nodes.
	Engine  sandbox.Engine
	Builder Builder
	// Concurrency bounds the node executions (student calls, code calls) in flight across all
	// runs of this Runner; 0 means 16.
	Concurrency int
	// Log receives the Runner's warnings (a failing cache); nil means slog.Default().
	Log *slog.Logger
}

// Stats counts what a Runner did with its response cache. A cache that cannot be written or
// read never fails a student call (the answer is good; only its copy is lost), so these
// counters and one loud log line per kind are how the failure shows.
type Stats struct {
	// CacheHits is the number of student calls answered from the cache.
	CacheHits int64 `json:"cache_hits"`
	// CacheWriteErrors is the number of answers that could not be stored.
	CacheWriteErrors int64 `json:"cache_write_errors"`
	// CacheReadErrors is the number of lookups that failed or found an entry whose checksum
	// did not match (in use mode these were asked again; in replay mode they failed).
	CacheReadErrors int64 `json:"cache_read_errors"`
}

// Stats returns the Runner's counters so far.
func (r *Runner) Stats() Stats {
	return Stats{
		CacheHits:        r.cacheHits.Load(),
		CacheWriteErrors: r.cacheWriteErrs.Load(),
		CacheReadErrors:  r.cacheReadErrs.Load(),
	}
}

// Runner executes plans. It is safe for concurrent use: an eval runs many plans through one
// Runner, sharing its concurrency bound, module cache and response cache.
type Runner struct {
	opts  Options
	slots chan struct{}

	mu      sync.Mutex
	modules map[string]*moduleEntry // by source digest

	// Builds run on their own goroutines under bg, not under the context of the node that
	// first needed them: a node's timeout bounds one execution, and a cold build (tens of
	// seconds) must not fail it, nor be wasted when that node times out. A build every waiter
	// abandoned otherwise is cancelled (moduleEntry); Close stops them all.
	bg     context.Context
	stop   context.CancelFunc
	builds sync.WaitGroup

	log                                      *slog.Logger
	cacheHits, cacheWriteErrs, cacheReadErrs atomic.Int64
	warnWrite, warnRead                      sync.Once
}

// New returns a Runner.
func New(opts Options) (*Runner, error) {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 16
	}
	if c, ok := opts.Student.(*llm.Client); ok && opts.Model == "" {
		opts.Model = c.Config().Model()
	}
	switch opts.CacheMode {
	case "":
		opts.CacheMode = cache.ModeUse
		if opts.Cache == nil {
			opts.CacheMode = cache.ModeOff
		}
	case cache.ModeOff:
	case cache.ModeUse, cache.ModeRefresh, cache.ModeReplay:
		if opts.Cache == nil {
			return nil, fmt.Errorf("new runner: cache mode %s needs a cache", opts.CacheMode)
		}
	default:
		return nil, fmt.Errorf("new runner: unknown cache mode %q", opts.CacheMode)
	}
	if opts.CacheMode != cache.ModeOff && opts.Model == "" {
		// Without the model in the key, answers of different models would be mixed up.
		return nil, errors.New("new runner: the response cache needs Options.Model")
	}
	if err := checkPair(opts.Engine, opts.Builder); err != nil {
		return nil, fmt.Errorf("new runner: %w", err)
	}
	bg, stop := context.WithCancel(context.Background())
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	return &Runner{
		log:     log,
		opts:    opts,
		slots:   make(chan struct{}, opts.Concurrency),
		modules: map[string]*moduleEntry{},
		bg:      bg,
		stop:    stop,
	}, nil
}

// RunResult is the outcome of one run. Trace is set even when the run failed.
type RunResult struct {
	Output any
	Trace  *trace.Run
}

// Run executes p once on inputs. It prepares (and validates) p on every call; to run one plan
// many times, Prepare it once and call Program.Run. See Program.Run.
func (r *Runner) Run(ctx context.Context, p *plans.Plan, inputs map[string]any) (*RunResult, error) {
	prog, err := r.Prepare(p)
	if err != nil {
		return &RunResult{Trace: &trace.Run{Plan: p.Metadata.Name, Inputs: inputs, Error: err.Error(), ErrorKind: KindOf(err)}}, err
	}
	return prog.Run(ctx, inputs)
}

// RunForced is Run with the top-level routers named in force running the given branches
// (Program.RunForced): how an evaluation checks routing.
func (r *Runner) RunForced(ctx context.Context, p *plans.Plan, inputs map[string]any, force map[string]string) (*RunResult, error) {
	prog, err := r.Prepare(p)
	if err != nil {
		return &RunResult{Trace: &trace.Run{Plan: p.Metadata.Name, Inputs: inputs, Error: err.Error(), ErrorKind: KindOf(err)}}, err
	}
	return prog.RunForced(ctx, inputs, force)
}

func (r *Runner) acquire(ctx context.Context) error {
	select {
	case r.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *Runner) release() { <-r.slots }

// complete asks the student, through the cache according to the cache mode. cached reports a
// cache hit (no request was made).
func (r *Runner) complete(ctx context.Context, req llm.Request, sample, attempt int) (resp llm.Response, cached bool, err error) {
	mode := r.opts.CacheMode
	var key string
	if mode != cache.ModeOff {
		key = cache.Key(cache.KeyParts{
			Model: r.opts.Model, Messages: req.Messages, Sampling: req.Sampling,
			Schema: req.Schema, Sample: sample, Attempt: attempt,
		})
	}
	if mode == cache.ModeUse || mode == cache.ModeReplay {
		e, ok, err := r.opts.Cache.Get(key)
		if err != nil {
			r.cacheReadErrs.Add(1)
			if mode == cache.ModeReplay {
				return llm.Response{}, false, err
			}
			// In use mode a bad entry is a miss: the student is asked again and the entry
			// rewritten.
			r.warnRead.Do(func() {
				r.log.Error("response cache: an entry could not be read or failed its checksum; asking the student again (later failures are only counted)", "err", err)
			})
			ok = false
		}
		if ok {
			r.cacheHits.Add(1)
			return llm.Response{Text: e.Text, FinishReason: e.FinishReason, Usage: e.Usage, Fingerprint: e.Fingerprint}, true, nil
		}
		if mode == cache.ModeReplay {
			return llm.Response{}, false, fmt.Errorf("%w: key %s", cache.ErrMiss, key)
		}
	}
	if r.opts.Student == nil {
		return llm.Response{}, false, errors.New("no student endpoint configured")
	}
	if err := r.acquire(ctx); err != nil {
		return llm.Response{}, false, err
	}
	resp, err = r.opts.Student.Complete(ctx, req)
	r.release()
	if err != nil {
		return resp, false, err
	}
	if mode == cache.ModeUse || mode == cache.ModeRefresh {
		if err := r.opts.Cache.Put(key, cache.Entry{Text: resp.Text, FinishReason: resp.FinishReason, Usage: resp.Usage, Fingerprint: resp.Fingerprint, Stored: time.Now().UTC()}); err != nil {
			// The answer is good: failing the call would turn a full disk into wrong results.
			r.cacheWriteErrs.Add(1)
			r.warnWrite.Do(func() {
				r.log.Error("response cache: cannot store answers (is the disk full?); answers are used but not cached (later failures are only counted)", "err", err)
			})
		}
	}
	return resp, false, nil
}

// moduleEntry is a code node's loaded module, built once per source digest.
type moduleEntry struct {
	done   chan struct{}
	mod    sandbox.Module
	digest string
	err    error

	// The build runs under ctx, a child of the Runner's bg context. Guarded by Runner.mu:
	// waiters counts the callers waiting for it; keep is set once a caller stopped waiting
	// because its node's own timeout passed while its run went on, which asks the build to
	// outlive it (a cold build longer than a node timeout must finish for the next run). When
	// the last waiter leaves for any other reason (its run cancelled, a request gone) and none
	// asked to keep the build, it is cancelled, which kills the compiler's process tree.
	ctx     context.Context
	cancel  context.CancelFunc
	waiters int
	keep    bool
}

// errNodeTimeout is the cause of a node's own timeout (context.Cause), which module tells apart
// from its run's end.
var errNodeTimeout = errors.New("node timeout")

// module builds and loads src once; every caller, the first included, waits for the build or
// for its own ctx. Failures other than cancellation are remembered: building the same source
// fails the same way. A build every waiter has abandoned is cancelled, unless one of them left
// because its node's own timeout passed (moduleEntry.keep).
//
// lim is the node's limits: the module's initialisation (a reactor's _initialize) runs under
// its fuel, memory and output limits (sandbox.WithLoadLimits), so that it never does more work
// than one of the node's calls may, with a wall time of at least plans.DefaultCodeTimeout.
func (r *Runner) module(ctx context.Context, id string, src []byte, sourceDigest string, lim sandbox.Limits) (*moduleEntry, error) {
	if r.opts.Engine == nil || r.opts.Builder == nil {
		return nil, errors.New("no sandbox engine or builder configured for code nodes")
	}
	r.mu.Lock()
	e, ok := r.modules[sourceDigest]
	if !ok {
		if r.bg.Err() != nil {
			r.mu.Unlock()
			return nil, errors.New("runner is closed")
		}
		e = &moduleEntry{done: make(chan struct{})}
		e.ctx, e.cancel = context.WithCancel(r.bg)
		r.modules[sourceDigest] = e
		r.builds.Add(1)
		go r.build(e, id, src, sourceDigest, lim)
	}
	e.waiters++
	r.mu.Unlock()
	select {
	case <-e.done:
		r.mu.Lock()
		e.waiters--
		r.mu.Unlock()
		return e, e.err
	case <-ctx.Done():
		r.mu.Lock()
		e.waiters--
		if errors.Is(context.Cause(ctx), errNodeTimeout) {
			e.keep = true
		}
		if e.waiters == 0 && !e.keep && r.modules[sourceDigest] == e {
			select {
			case <-e.done:
			default:
				// Nobody wants this build any more: stop the compiler now rather than at its
				// own timeout, and let the next caller start afresh.
				e.cancel()
				delete(r.modules, sourceDigest)
			}
		}
		r.mu.Unlock()
		return nil, ctx.Err()
	}
}

func (r *Runner) build(e *moduleEntry, id string, src []byte, sourceDigest string, lim sandbox.Limits) {
	defer r.builds.Done()
	defer e.cancel()
	art, err := r.opts.Builder.Build(e.ctx, src, id)
	if err == nil {
		e.digest = art.Digest
		// Initialisation gets the node's fuel, memory and output limits, but at least the
		// default wall time: a module is loaded once and its failure remembered, so a node
		// timeout of milliseconds must not fail it for good on a busy machine; fuel already
		// bounds the work deterministically.
		lim.Timeout = max(lim.Timeout, plans.DefaultCodeTimeout)
		e.mod, err = r.opts.Engine.Load(sandbox.WithLoadLimits(e.ctx, lim), art.Wasm)
	}
	e.err = err
	if err != nil && isContextErr(err) {
		r.mu.Lock()
		if r.modules[sourceDigest] == e {
			delete(r.modules, sourceDigest) // let a later run try again
		}
		r.mu.Unlock()
	}
	close(e.done)
}

// Close stops builds in progress and releases the modules the Runner loaded. It does not close
// the engine, cache or client. Runs must not be started after Close.
func (r *Runner) Close(ctx context.Context) error {
	r.stop()
	r.builds.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for k, e := range r.modules {
		select {
		case <-e.done:
			if e.mod != nil {
				errs = append(errs, e.mod.Close(ctx))
			}
		default:
		}
		delete(r.modules, k)
	}
	return errors.Join(errs...)
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// readSource returns a code node's source: inline, or the file at Path as plans.Load read it
// (resolved against the plan's folder and checked not to leave it). The runtime never opens
// Path itself: relative to the working directory it would name a different, unchecked file.
func readSource(n *plans.CodeNode) ([]byte, error) {
	if src := n.SourceText(); src != "" {
		return []byte(src), nil
	}
	if n.Path != "" {
		return nil, fmt.Errorf("code source %q was not loaded: load the plan with plans.Load or plans.Parse with its file name", n.Path)
	}
	return nil, errors.New("code node has neither source nor path")
}
