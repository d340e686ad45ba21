package rewrite

import (
	"context"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/sgde-project/sgde/internal/wasmbin"
	"github.com/sgde-project/sgde/wasm/abi"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// threadCPU returns the user+system CPU time of the calling OS thread in nanoseconds; callers
// lock the goroutine to its thread, and wazero runs the guest on the calling goroutine.
func threadCPU() int64 {
	const rusageThread = 1 // RUSAGE_THREAD
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func BenchmarkDecodeEncode(b *testing.B) {
	in := goGuest(b, "multi")
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		m, err := wasmbin.Decode(in)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := wasmbin.Encode(m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPass(b *testing.B) {
	in := goGuest(b, "multi")
	for _, pc := range pipelines {
		b.Run(pc.name, func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			var out []byte
			for b.Loop() {
				var err error
				if out, err = pc.p.Rewrite(in); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(out))/float64(len(in)), "size-ratio")
		})
	}
}

// BenchmarkInstantiate measures what MergeData is for: applying Go's ~38,000 data segments.
func BenchmarkInstantiate(b *testing.B) {
	ctx := context.Background()
	orig := goGuest(b, "multi")
	merged, err := MergeData(orig, DefaultMergeGap)
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		wasm []byte
	}{{"original", orig}, {"merged", merged}} {
		b.Run(tc.name, func(b *testing.B) {
			r, c := newGuestRuntime(ctx, b, tc.wasm, nil)
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var minCPU int64
			for b.Loop() {
				cpu0 := threadCPU()
				mod, err := r.InstantiateModule(ctx, c, wazero.NewModuleConfig().WithName("").WithStartFunctions())
				if err != nil {
					b.Fatal(err)
				}
				if d := threadCPU() - cpu0; minCPU == 0 || d < minCPU {
					minCPU = d
				}
				mod.Close(ctx)
			}
			b.ReportMetric(float64(minCPU)/1e6, "min-cpu-ms")
		})
	}
}

// BenchmarkLoop runs the guest's tight loop (spin: a handful of instructions per iteration
// through Go's resume dispatch) unmetered, metered, and unmetered under wazero's only other
// CPU stop, WithCloseOnContextDone. Each op is one _start call (Go runtime start-up included);
// instantiation is excluded from the timings.
func BenchmarkLoop(b *testing.B) {
	ctx := context.Background()
	orig := goGuest(b, "multi")
	metered, err := Meter(orig, 0)
	if err != nil {
		b.Fatal(err)
	}
	all, err := NewPipeline().WithMergeData(DefaultMergeGap).WithMeter(0).WithStackLimit(100000).Rewrite(orig)
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		wasm  []byte
		close bool
	}{{"unmetered", orig, false}, {"metered", metered, false}, {"all-passes", all, false}, {"close-on-context-done", orig, true}} {
		for _, workload := range []string{"loopbig", "maps", "rec", "json"} {
			b.Run(tc.name+"/"+workload, func(b *testing.B) {
				cfg := wazero.NewRuntimeConfig().WithCloseOnContextDone(tc.close)
				r := newRuntime(ctx, b, cfg)
				wasi_snapshot_preview1.MustInstantiate(ctx, r)
				instantiateHost(ctx, b, r, &hostIO{})
				c, err := r.CompileModule(ctx, tc.wasm)
				if err != nil {
					b.Fatal(err)
				}
				var cpu, minCPU int64
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				for b.Loop() {
					b.StopTimer()
					callCtx := ctx
					var cancel context.CancelFunc
					if tc.close {
						callCtx, cancel = context.WithTimeout(ctx, time.Minute)
					}
					mod, err := r.InstantiateModule(callCtx, c, wazero.NewModuleConfig().WithName("").WithStartFunctions().WithArgs("guest", workload))
					if err != nil {
						b.Fatal(err)
					}
					if g, ok := mod.ExportedGlobal(abi.FuelGlobal).(api.MutableGlobal); ok {
						g.Set(1 << 50)
					}
					cpu0 := threadCPU()
					b.StartTimer()
					_, _ = mod.ExportedFunction("_start").Call(callCtx)
					b.StopTimer()
					d := threadCPU() - cpu0
					cpu += d
					if minCPU == 0 || d < minCPU {
						minCPU = d
					}
					mod.Close(ctx)
					if cancel != nil {
						cancel()
					}
					b.StartTimer()
				}
				// CPU time of the calling thread is steadier than wall time on a shared machine;
				// the minimum is the least disturbed run.
				b.ReportMetric(float64(cpu)/float64(b.N)/1e6, "cpu-ms/op")
				b.ReportMetric(float64(minCPU)/1e6, "min-cpu-ms")
			})
		}
	}
}
