package sandbox_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sgde-project/sgde/internal/testcache"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/sandbox"
)

const loopHeavy = "testdata/loop_heavy.go"

var (
	trustedOnce   sync.Once
	trustedEngine sandbox.Engine
	trustedErr    error
)

// loadTrusted loads path into the unmetered engine without WithCloseOnContextDone (MergeData
// only), the baseline that isolates the cost of metering.
func loadTrusted(b *testing.B, path string) sandbox.Module {
	b.Helper()
	art, _ := load(b, path)
	trustedOnce.Do(func() {
		trustedEngine, trustedErr = sandbox.New(context.Background(), plans.EngineWazero, sandbox.WithMetering(sandbox.MeterNone),
			sandbox.WithCompilationCacheDir(testcache.Dir("wazero")))
	})
	if trustedErr != nil {
		b.Fatal(trustedErr)
	}
	mod, err := trustedEngine.Load(context.Background(), art.Wasm)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { mod.Close(context.Background()) })
	return mod
}

// callEach makes b.N calls back to back and reports the latency percentiles and the calls per
// second one goroutine sustains.
func callEach(b *testing.B, mod sandbox.Module, in []byte, lim sandbox.Limits) {
	b.Helper()
	if _, err := mod.Call(context.Background(), in, lim); err != nil { // compile-time effects out
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	var fuel uint64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		res, err := mod.Call(context.Background(), in, lim)
		lat = append(lat, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		fuel = res.Usage.Fuel
	}
	b.StopTimer()
	slices.Sort(lat)
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-us")
	b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds()), "p99-us")
	b.ReportMetric(float64(len(lat))/sum.Seconds(), "calls/s")
	if fuel > 0 {
		b.ReportMetric(float64(fuel), "fuel/op")
	}
}

// BenchmarkCodeCall: arith_program on a GSM-Hard program, clean state per call, calls back to
// back, on the metered engine and on the unmetered one (fresh instance, _start,
// WithCloseOnContextDone).
func BenchmarkCodeCall(b *testing.B) {
	recs := readGSM(b, "../testdata/gsm-hard/slice.jsonl")
	in, _ := json.Marshal(map[string]string{"program": recs[1].Code})
	lim := sandbox.Limits{Timeout: time.Minute}
	b.Run("engine=close-on-done", func(b *testing.B) {
		_, mod := load(b, arithProgram)
		callEach(b, mod, in, lim)
	})
	b.Run("engine=metered", func(b *testing.B) {
		callEach(b, loadMetered(b, arithProgram), in, lim)
	})
}

// BenchmarkFuelOverhead: a loop-heavy node (10,000,000 rounds of a hash) unmetered without any
// CPU stop, metered, and unmetered with WithCloseOnContextDone.
func BenchmarkFuelOverhead(b *testing.B) {
	in := []byte(`{"n": 10000000}`)
	lim := sandbox.Limits{Timeout: time.Minute}
	b.Run("engine=trusted", func(b *testing.B) { callEach(b, loadTrusted(b, loopHeavy), in, lim) })
	b.Run("engine=metered", func(b *testing.B) { callEach(b, loadMetered(b, loopHeavy), in, lim) })
	b.Run("engine=close-on-done", func(b *testing.B) {
		_, mod := load(b, loopHeavy)
		callEach(b, mod, in, lim)
	})
}

// BenchmarkHostMemory reports the host's heap and resident set after b.N metered calls:
// run it with -benchtime 10000x for ordinary calls and 1000x for memory bombs. The "pooled"
// cases run the same nodes as pre-initialised reactors (restored pooled instances).
func BenchmarkHostMemory(b *testing.B) {
	for _, tt := range []struct {
		name, file string
		in         string
		lim        sandbox.Limits
		wantErr    bool
		pooled     bool
	}{
		{"calls", arithProgram, `{"program": "def solution():\n    return 6 * 7\n"}`, sandbox.Limits{Timeout: time.Minute}, false, false},
		{"memory-bombs", filepath.Join(hostileDir, "memory_bomb.go"), `{}`, sandbox.Limits{MemoryMiB: 64, Timeout: time.Minute}, true, false},
		{"pooled-calls", arithProgram, `{"program": "def solution():\n    return 6 * 7\n"}`, sandbox.Limits{Timeout: time.Minute}, false, true},
		{"pooled-memory-bombs", filepath.Join(hostileDir, "memory_bomb.go"), `{}`, sandbox.Limits{MemoryMiB: 64, Timeout: time.Minute}, true, true},
	} {
		b.Run(tt.name, func(b *testing.B) {
			var mod sandbox.Module
			if tt.pooled {
				mod = loadReactor(b, tt.file)
			} else {
				mod = loadMetered(b, tt.file)
			}
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			rss0 := rssBytes()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				_, err := mod.Call(context.Background(), []byte(tt.in), tt.lim)
				if (err != nil) != tt.wantErr {
					b.Fatalf("call %d: %v", i, err)
				}
			}
			b.StopTimer()
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(before.HeapAlloc)/(1<<20), "heap-before-MiB")
			b.ReportMetric(float64(after.HeapAlloc)/(1<<20), "heap-after-MiB")
			b.ReportMetric(float64(rss0)/(1<<20), "rss-before-MiB")
			b.ReportMetric(float64(rssBytes())/(1<<20), "rss-after-MiB")
		})
	}
}

// rssBytes is the process's resident set size (Linux), or 0.
func rssBytes() uint64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
