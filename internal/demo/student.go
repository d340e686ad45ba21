package demo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sgde-project/sgde/compiler"
	"github.com/sgde-project/sgde/compiler/report"
	"github.com/sgde-project/sgde/internal/simulator"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/cache"
	"github.com/sgde-project/sgde/runtime/llm"
)

// NewRunner assembles a runner from opts with the caller's sandbox engine rules; release
// closes the runner, not the cache or the client.
type NewRunner func(ctx context.Context, opts runtime.Options) (_ *runtime.Runner, release func(), err error)

// Student is the simulated student served in-process over real HTTP on a loopback port.
type Student struct {
	srv  *simulator.Server
	cfg  simulator.Config
	stop context.CancelFunc
	// Knowledge is what the simulator knows: the items and their recorded answers.
	Knowledge *simulator.Knowledge
}

// StartStudent serves the simulator with knowledge k and the default profile, without
// simulated latency, until Close or the end of ctx.
func StartStudent(ctx context.Context, k *simulator.Knowledge) (*Student, error) {
	simCtx, stop := context.WithCancel(ctx)
	cfg := simulator.NewConfig(k, simulator.DefaultProfile()).WithLatencyScale(0)
	srv, err := simulator.Start(simCtx, "127.0.0.1:0", cfg)
	if err != nil {
		stop()
		return nil, fmt.Errorf("start simulator: %w", err)
	}
	return &Student{srv: srv, cfg: cfg, stop: stop, Knowledge: k}, nil
}

// URL is the student's OpenAI-compatible base URL.
func (s *Student) URL() string { return s.srv.URL() }

// Model is the simulated model's name.
func (s *Student) Model() string { return s.cfg.ModelName() }

// Close stops the simulator.
func (s *Student) Close() {
	s.srv.Close()
	s.stop()
}

// OpenRunner opens dir's response cache and a client of the student at url (API key from
// SGDE_STUDENT_API_KEY), and assembles a runner over them with newRunner. release closes all
// three; it is set even on error.
func OpenRunner(ctx context.Context, dir, url, model string, newRunner NewRunner) (_ *runtime.Runner, release func(), err error) {
	release = func() {}
	cc, err := cache.Open(filepath.Join(dir, compiler.FileCache), 5*time.Second)
	if err != nil {
		return nil, release, fmt.Errorf("response cache: %w", err)
	}
	release = func() { cc.Close() }
	client, err := llm.New(llm.NewConfig(url, model).WithAPIKey(os.Getenv("SGDE_STUDENT_API_KEY")).WithConcurrency(8))
	if err != nil {
		return nil, release, &report.InputError{Setting: "student", Err: err}
	}
	r, closeRunner, err := newRunner(ctx, runtime.Options{Student: client, Model: model, Cache: cc,
		CacheMode: cache.ModeUse, Concurrency: 16})
	if err != nil {
		return nil, release, err
	}
	release = func() { closeRunner(); cc.Close() }
	return r, release, nil
}
