package sandbox_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/sandbox"
)

// BenchmarkArithCall measures one sandboxed call of arith_program on a GSM-Hard program: a
// fresh instance (memory, Go runtime start-up), the interpretation, and the teardown.
func BenchmarkArithCall(b *testing.B) {
	recs := readGSM(b, "../testdata/gsm-hard/slice.jsonl")
	in, _ := json.Marshal(map[string]string{"program": recs[1].Code})
	_, mod := load(b, arithProgram)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := mod.Call(context.Background(), in, sandbox.Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoad measures loading the arith module into a fresh engine whose compilation cache
// is warm (the cost a new process pays per node).
func BenchmarkLoad(b *testing.B) {
	art, _ := load(b, arithProgram)
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		e, err := sandbox.New(ctx, plans.EngineWazero, sandbox.WithMetering(sandbox.MeterWallClock), sandbox.WithCompilationCacheDir(b.TempDir()+"/../wz"))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := e.Load(ctx, art.Wasm); err != nil {
			b.Fatal(err)
		}
		e.Close(ctx)
	}
}
