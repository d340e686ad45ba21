package runtime_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/llm"
	"github.com/sgde-project/sgde/runtime/llm/llmtest"
)

// planBench is the benchmark plan of docs/BENCHMARKS.md: three nodes (an llm member, a
// consensus of 5 over it, a code node after the vote).
const planBench = `
apiVersion: sgde/v1
kind: Plan
metadata: {name: bench}
inputs: [{name: question, type: string}]
output: double.y
nodes:
  - id: solve
    substrate: llm
    llm:
      system: "You are a careful assistant."
      prompt: "Solve: {{ inputs.question }}"
      parser: {type: number}
  - id: vote
    substrate: consensus
    consensus:
      members: [solve]
      over: solve
      n: 5
      perturbations: {seeds: [1, 2, 3, 4, 5], temperatures: [0.2, 0.7]}
      vote: {method: plurality, tie_break: first, normalize: number}
  - id: double
    substrate: code
    code:
      source: "// double\npackage main\n"
      inputs: {x: vote}
      outputs: {y: number}
`

var benchInputs = map[string]any{"question": "A robe takes 2 bolts of blue fiber and half that much white fiber. How many bolts?"}

func benchProgram(b *testing.B, s llm.Completer) *runtime.Program {
	r, err := runtime.New(runtime.Options{Student: s, Model: "m", Engine: &fakeEngine{}, Builder: &fakeBuilder{}, Concurrency: 64})
	if err != nil {
		b.Fatal(err)
	}
	prog, err := r.Prepare(mustPlan(b, planBench))
	if err != nil {
		b.Fatal(err)
	}
	return prog
}

// instant answers at once, without HTTP: what remains is the scheduler's own cost.
type instant struct{}

func (instant) Complete(context.Context, llm.Request) (llm.Response, error) {
	return llm.Response{Text: "The answer is 3.", Attempts: 1, Usage: llm.Usage{TotalTokens: 30}}, nil
}

// BenchmarkRunConsensus measures one plan run (5 student calls, a vote, a code call) with an
// instant in-process model, one run at a time (latency) and with runs in parallel (throughput:
// runs/s = 1e9 / ns/op).
func BenchmarkRunConsensus(b *testing.B) {
	prog := benchProgram(b, instant{})
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			if _, err := prog.Run(ctx, benchInputs); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := prog.Run(ctx, benchInputs); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkRunConsensusHTTP is the same plan with the student behind loopback HTTP (the
// in-process test server answering at once), for reference.
func BenchmarkRunConsensusHTTP(b *testing.B) {
	srv := llmtest.NewServer()
	defer srv.Close()
	srv.Answer = func(llmtest.Request) string { return "The answer is 3." }
	client, err := llm.New(llm.NewConfig(srv.BaseURL(), "m").WithConcurrency(32))
	if err != nil {
		b.Fatal(err)
	}
	prog := benchProgram(b, client)
	ctx := context.Background()
	b.ReportAllocs()
	defer reportCPU(b)()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := prog.Run(ctx, benchInputs); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// reportCPU adds the process CPU time per operation (user + system, all threads) as cpu-ns/op.
// On a shared machine wall time per op depends on the neighbours; CPU time much less so, and
// 2e9 / cpu-ns/op bounds the runs per second two cores can sustain.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() {
		b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
