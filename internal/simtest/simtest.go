// Package simtest gives a test a runtime.Runner whose student is the project's simulator over
// real HTTP and whose code nodes run in a wall-clock-metered wazero engine: the set-up the
// compiler's suite and experiment tests share. It must not be imported by non-test code.
package simtest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/sgde-project/sgde/internal/simulator"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/llm"
	"github.com/sgde-project/sgde/sandbox"
	"github.com/sgde-project/sgde/wasm"
)

// Runner starts a simulator that knows the items of the knowledge files, plus the BBH
// reference programs and extractions under testdata (the repository's testdata folder, as a
// path from the test's package), and returns a runner on it. Simulated latency is off: the
// tests assert answers and accounting, not timing. Everything stops at the test's cleanup.
func Runner(t testing.TB, testdata string, knowledge ...string) *runtime.Runner {
	t.Helper()
	for _, pattern := range []string{"bbh/programs/*.jsonl", "bbh/extractions/*.jsonl"} {
		refs, err := filepath.Glob(filepath.Join(testdata, pattern))
		if err != nil {
			t.Fatal(err)
		}
		knowledge = append(knowledge, refs...)
	}
	k, err := simulator.LoadKnowledgeFiles(knowledge...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cfg := simulator.NewConfig(k, simulator.DefaultProfile()).WithLatencyScale(0)
	srv, err := simulator.Start(ctx, "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	cl, err := llm.New(llm.NewConfig(srv.URL(), cfg.ModelName()).WithConcurrency(8))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := sandbox.New(ctx, plans.EngineWazero, sandbox.WithMetering(sandbox.MeterWallClock))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(context.Background()) })
	b, err := wasm.NewBuilder()
	if err != nil {
		t.Fatal(err)
	}
	r, err := runtime.New(runtime.Options{Student: cl, Model: cfg.ModelName(), Engine: eng, Builder: b, Concurrency: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(context.Background()) })
	return r
}
