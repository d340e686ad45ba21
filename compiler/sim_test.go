package compiler

import (
	"context"
	"sync"
	"testing"

	"github.com/sgde-project/sgde/compiler/task"
	"github.com/sgde-project/sgde/internal/simulator"
	"github.com/sgde-project/sgde/internal/testcache"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/cache"
	"github.com/sgde-project/sgde/runtime/llm"
	"github.com/sgde-project/sgde/sandbox"
	"github.com/sgde-project/sgde/wasm"
)

// Shared across the package's tests: one simulator, one engine (compilation cache), one builder.
var (
	simOnce   sync.Once
	simURL    string
	simModel  string
	simErr    error
	engine    sandbox.Engine
	builder   *wasm.Builder
	simCancel context.CancelFunc
)

func testEnv(t testing.TB) {
	t.Helper()
	simOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		simCancel = cancel
		kpath, err := simulator.LocateDefaultKnowledge()
		if err != nil {
			simErr = err
			return
		}
		k, err := simulator.LoadKnowledgeFile(kpath)
		if err != nil {
			simErr = err
			return
		}
		cfg := simulator.NewConfig(k, simulator.DefaultProfile()).WithLatencyScale(0)
		srv, err := simulator.Start(ctx, "127.0.0.1:0", cfg)
		if err != nil {
			simErr = err
			return
		}
		simURL, simModel = srv.URL(), cfg.ModelName()
		engine, simErr = sandbox.New(ctx, plans.EngineWazero, sandbox.WithMetering(sandbox.MeterWallClock), sandbox.WithCompilationCacheDir(testcache.Dir("wazero")))
		if simErr != nil {
			return
		}
		builder, simErr = wasm.NewBuilder()
	})
	if simErr != nil {
		t.Fatalf("test environment: %v", simErr)
	}
}

// newRunner returns a runtime Runner on the simulator with a response cache in dir ("" none).
func newRunner(t testing.TB, cachePath string) *runtime.Runner {
	t.Helper()
	testEnv(t)
	cl, err := llm.New(llm.NewConfig(simURL, simModel).WithConcurrency(8))
	if err != nil {
		t.Fatal(err)
	}
	opts := runtime.Options{Student: cl, Model: simModel, Engine: engine, Builder: builder, Concurrency: 8}
	if cachePath != "" {
		c, err := cache.Open(cachePath, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		opts.Cache = c
	}
	r, err := runtime.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(context.Background()) })
	return r
}

func gsmTask(t testing.TB) (*task.Task, []runtime.Item) {
	t.Helper()
	tk, err := task.Load("../testdata/tasks/gsm-hard.yaml")
	if err != nil {
		t.Fatal(err)
	}
	items, err := tk.ReadItemsFile("../testdata/gsm-hard/slice.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	return tk, items
}

func loadPlan(t testing.TB, path string) *plans.Plan {
	t.Helper()
	p, err := plans.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
