package sandbox

import (
	"context"
	"errors"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/sgde-project/sgde/internal/testcache"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/wasm"
)

// BenchmarkFuelExhaustionToError times the way from the out_of_fuel trap to the error Call
// returns (unwinding, closing the instance, classifying), with the host's garbage collector
// running in a loop beside it. One op is one call of a Go `for {}` node with 5,000,000 fuel.
func BenchmarkFuelExhaustionToError(b *testing.B) {
	ctx := context.Background()
	bld, err := wasm.NewBuilder()
	if err != nil {
		b.Fatal(err)
	}
	src, err := os.ReadFile("../testdata/hostile/infinite_loop.go")
	if err != nil {
		b.Fatal(err)
	}
	art, err := bld.Build(ctx, src, "infinite_loop.go")
	if err != nil {
		b.Fatal(err)
	}
	e, err := New(ctx, plans.EngineWazero, WithCompilationCacheDir(testcache.Dir("wazero")))
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close(ctx)
	mod, err := e.Load(ctx, art.Wasm)
	if err != nil {
		b.Fatal(err)
	}
	stop, gcDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(gcDone)
		for {
			select {
			case <-stop:
				return
			default:
				runtime.GC()
			}
		}
	}()
	defer func() { close(stop); <-gcDone }()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var at time.Time
		_, err := mod.Call(context.WithValue(ctx, trapClockKey{}, &at), []byte(`{}`), Limits{Fuel: 5_000_000, Timeout: time.Minute})
		lat = append(lat, time.Since(at))
		if !errors.Is(err, ErrFuelExhausted) || at.IsZero() {
			b.Fatalf("err = %v (trap time %v), want ErrFuelExhausted through out_of_fuel", err, at)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-us")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-us")
}
