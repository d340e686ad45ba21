//go:build wasmtime && cgo

package sandbox

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/sgde-project/sgde/plans"
)

// Engines side by side (docs/BENCHMARKS.md): call latency, the cost of fuel, compile time.

// benchEngines returns the engines a benchmark compares, closed when it ends.
func benchEngines(b *testing.B) map[string]Engine {
	b.Helper()
	ctx := context.Background()
	wz, err := New(ctx, plans.EngineWazero, WithMetering(MeterWallClock), WithCompilationCacheDir(filepath.Join(b.TempDir(), "wazero")))
	if err != nil {
		b.Fatal(err)
	}
	wt, err := newWasmtime(ctx, newWasmtimeConfig())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { wz.Close(ctx); wt.Close(ctx) })
	return map[string]Engine{"wazero": wz, "wasmtime": wt}
}

func benchCall(b *testing.B, e Engine, wasm, input []byte) {
	b.Helper()
	ctx := context.Background()
	m, err := e.Load(ctx, wasm)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close(ctx)
	var fuel uint64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := m.Call(ctx, input, Limits{})
		if err != nil {
			b.Fatal(err)
		}
		fuel = res.Usage.Fuel
	}
	if fuel > 0 {
		b.ReportMetric(float64(fuel), "fuel/op")
	}
}

// BenchmarkEngineCall is the latency of one code-node call, fresh instance included: the PAL
// evaluator on the first GSM-Hard program.
func BenchmarkEngineCall(b *testing.B) {
	wasm := arithProgram(b)
	input, _ := json.Marshal(map[string]string{"program": gsmHardPrograms(b, 1)[0]})
	for _, name := range []string{"wazero", "wasmtime"} {
		b.Run(name, func(b *testing.B) { benchCall(b, benchEngines(b)[name], wasm, input) })
	}
}

// loopNode spends its time in a tight arithmetic loop: the worst case for fuel metering.
const loopNode = `package main

import "github.com/sgde-project/sgde/wasm/guest"

func main() {
	guest.Run(func(map[string]any) (map[string]any, error) {
		x := uint64(1)
		for i := 0; i < 20_000_000; i++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
		return map[string]any{"x": x}, nil
	})
}
`

// BenchmarkFuelOverhead runs a loop-heavy node on wasmtime with fuel metering on and off (and
// on wazero, which does not meter).
func BenchmarkFuelOverhead(b *testing.B) {
	wasm := buildGuest(b, loopNode)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		cfg  wasmtimeConfig
	}{
		{"wasmtime-fuel", newWasmtimeConfig()},
		{"wasmtime-nofuel", wasmtimeConfig{maxWasmStack: wtDefaultMaxWasmStack, epochTick: wtDefaultEpochTick, noFuel: true}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			e, err := newWasmtime(ctx, tc.cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close(ctx)
			benchCall(b, e, wasm, []byte(`{}`))
		})
	}
	b.Run("wazero", func(b *testing.B) { benchCall(b, benchEngines(b)["wazero"], wasm, []byte(`{}`)) })
}

// BenchmarkEngineCompile is the time to Load the PAL evaluator (about 3 MB of wasm): cold, and
// from each engine's compile cache on disk.
func BenchmarkEngineCompile(b *testing.B) {
	wasm := arithProgram(b)
	ctx := context.Background()
	load := func(b *testing.B, newEngine func() (Engine, error)) {
		b.ReportMetric(float64(len(wasm)), "wasm-bytes")
		for i := 0; i < b.N; i++ {
			e, err := newEngine()
			if err != nil {
				b.Fatal(err)
			}
			m, err := e.Load(ctx, wasm)
			if err != nil {
				b.Fatal(err)
			}
			m.Close(ctx)
			e.Close(ctx)
		}
	}
	b.Run("wazero-cold", func(b *testing.B) {
		load(b, func() (Engine, error) { return New(ctx, plans.EngineWazero, WithMetering(MeterWallClock)) })
	})
	b.Run("wasmtime-cold", func(b *testing.B) {
		load(b, func() (Engine, error) { return newWasmtime(ctx, newWasmtimeConfig()) })
	})
	b.Run("wazero-cached", func(b *testing.B) {
		dir := b.TempDir()
		warm(b, func() (Engine, error) {
			return New(ctx, plans.EngineWazero, WithMetering(MeterWallClock), WithCompilationCacheDir(dir))
		}, wasm)
		b.ResetTimer()
		load(b, func() (Engine, error) {
			return New(ctx, plans.EngineWazero, WithMetering(MeterWallClock), WithCompilationCacheDir(dir))
		})
	})
	b.Run("wasmtime-cached", func(b *testing.B) {
		dir := b.TempDir()
		warm(b, func() (Engine, error) { return newWasmtime(ctx, newWasmtimeConfig().WithCacheDir(dir)) }, wasm)
		b.ResetTimer()
		load(b, func() (Engine, error) { return newWasmtime(ctx, newWasmtimeConfig().WithCacheDir(dir)) })
	})
}

// warm fills a compile cache by loading wasm once.
func warm(b *testing.B, newEngine func() (Engine, error), wasm []byte) {
	b.Helper()
	ctx := context.Background()
	e, err := newEngine()
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close(ctx)
	m, err := e.Load(ctx, wasm)
	if err != nil {
		b.Fatal(err)
	}
	m.Close(ctx)
}
