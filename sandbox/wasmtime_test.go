//go:build wasmtime && cgo

package sandbox

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bytecodealliance/wasmtime-go/v39"

	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/sandbox/internal/rewrite"
)

func wat(tb testing.TB, src string) []byte {
	tb.Helper()
	b, err := wasmtime.Wat2Wasm(src)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

const (
	watLoop      = `(module (memory (export "memory") 1) (func (export "_start") (loop br 0)))`
	watRecursion = `(module (memory (export "memory") 1) (func $f (export "_start") call $f))`
	// Writes the envelope at 0 through output_write.
	watOutput = `(module
	  (import "sgde" "output_write" (func $out (param i32 i32)))
	  (memory (export "memory") 1)
	  (data (i32.const 0) "{\"output\":{\"answer\":42}}")
	  (func (export "_start") (call $out (i32.const 0) (i32.const 24))))`
	// Grows memory one page at a time until refused, then delivers the page count.
	watGrow = `(module
	  (import "sgde" "output_write" (func $out (param i32 i32)))
	  (memory (export "memory") 1)
	  (data (i32.const 0) "{\"output\":{}}")
	  (func (export "_start")
	    (block $done (loop $more
	      (br_if $done (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
	      (br $more)))
	    (call $out (i32.const 0) (i32.const 13))))`
)

// TestWasmtimeFuelTrapCode pins the v39 quirk this engine works around: wasmtime-go's TrapCode
// enum lacks ALWAYS_TRAP_ADAPTER, so its OutOfFuel is 11 while a fuel trap reports 12.
func TestWasmtimeFuelTrapCode(t *testing.T) {
	cfg := wasmtime.NewConfig()
	cfg.SetConsumeFuel(true)
	engine := wasmtime.NewEngineWithConfig(cfg)
	defer engine.Close()
	store := wasmtime.NewStore(engine)
	defer store.Close()
	if err := store.SetFuel(10_000); err != nil {
		t.Fatal(err)
	}
	mod, err := wasmtime.NewModule(engine, wat(t, watLoop))
	if err != nil {
		t.Fatal(err)
	}
	inst, err := wasmtime.NewInstance(store, mod, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = inst.GetFunc(store, "_start").Call(store)
	var trap *wasmtime.Trap
	if !errors.As(err, &trap) || trap.Code() == nil {
		t.Fatalf("running out of fuel gave %v, want a trap with a code", err)
	}
	if got := *trap.Code(); got != wtTrapCodeOutOfFuel {
		t.Errorf("fuel trap code %d, want %d (wasmtime/trap.h)", got, wtTrapCodeOutOfFuel)
	}
	if wasmtime.OutOfFuel == wtTrapCodeOutOfFuel {
		t.Errorf("wasmtime-go's OutOfFuel is now %d: the binding was fixed; use it and drop wtTrapCodeOutOfFuel", wasmtime.OutOfFuel)
	}
}

func loadWT(t *testing.T, e Engine, wasm []byte) Module {
	t.Helper()
	m, err := e.Load(context.Background(), wasm)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	return m
}

// TestWasmtimeLimits checks that each limit stops a module with its own error kind.
func TestWasmtimeLimits(t *testing.T) {
	e := testWasmtime(t)
	tests := []struct {
		name string
		wasm string
		lim  Limits
		want error
	}{
		{"fuel", watLoop, Limits{Fuel: 1_000_000, Timeout: time.Minute}, ErrFuelExhausted},
		{"timeout", watLoop, Limits{Fuel: plans.MaxFuel, Timeout: 50 * time.Millisecond}, ErrTimeout},
		{"stack", watRecursion, Limits{}, ErrStackOverflow},
		{"output", watOutput, Limits{MaxOutputBytes: 10}, ErrOutputTooLarge},
		{"ok", watOutput, Limits{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := loadWT(t, e, wat(t, tt.wasm))
			res, err := m.Call(context.Background(), []byte(`{}`), tt.lim)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Call: %v, want %v", err, tt.want)
			}
			// After an epoch interrupt the fuel count is a lower bound: compiled code keeps it in
			// a register and the interrupt does not write it back.
			if !res.Usage.Metered || (res.Usage.Fuel == 0 && tt.want != ErrTimeout) {
				t.Errorf("usage %+v: want metered fuel", res.Usage)
			}
			if tt.want == ErrFuelExhausted && res.Usage.Fuel != tt.lim.Fuel {
				t.Errorf("fuel used %d, want the whole budget %d", res.Usage.Fuel, tt.lim.Fuel)
			}
		})
	}
}

// TestWasmtimeMemoryLimit checks the store limiter: memory.grow fails at the limit, which the
// guest sees, and the peak is reported.
func TestWasmtimeMemoryLimit(t *testing.T) {
	e := testWasmtime(t)
	m := loadWT(t, e, wat(t, watGrow))
	for _, mib := range []uint32{1, 2, 8} {
		res, err := m.Call(context.Background(), []byte(`{}`), Limits{MemoryMiB: mib})
		if err != nil {
			t.Fatalf("%d MiB: %v", mib, err)
		}
		if want := mib * 16; res.Usage.PeakMemoryPages != want {
			t.Errorf("%d MiB: peak %d pages, want %d", mib, res.Usage.PeakMemoryPages, want)
		}
	}
	if _, err := m.Call(context.Background(), nil, Limits{MemoryMiB: plans.MaxMemoryMiB + 1}); err == nil {
		t.Error("a memory limit above the engine maximum was accepted")
	}
}

// TestWasmtimeDeterministic runs one Go guest twice: output, printed text and fuel must agree.
func TestWasmtimeDeterministic(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "testdata", "hostile", "nondeterminism.go"))
	if err != nil {
		t.Skip(err)
	}
	m := loadWT(t, testWasmtime(t), buildGuest(t, string(src)))
	var first Result
	for i := 0; i < 3; i++ {
		res, err := m.Call(context.Background(), []byte(`{}`), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = res
			continue
		}
		if !bytes.Equal(res.Output, first.Output) || res.Usage.Fuel != first.Usage.Fuel || res.Usage.PeakMemoryPages != first.Usage.PeakMemoryPages {
			t.Fatalf("call %d differs: %s fuel %d pages %d, first %s fuel %d pages %d", i, res.Output, res.Usage.Fuel,
				res.Usage.PeakMemoryPages, first.Output, first.Usage.Fuel, first.Usage.PeakMemoryPages)
		}
	}
}

// TestWasmtimeContext: a context that ends stops the call and is reported as itself.
func TestWasmtimeContext(t *testing.T) {
	m := loadWT(t, testWasmtime(t), wat(t, watLoop))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := m.Call(ctx, nil, Limits{Fuel: plans.MaxFuel, Timeout: time.Minute})
	if !errors.Is(err, context.DeadlineExceeded) || Kind(err) != "" {
		t.Fatalf("Call: %v (kind %q), want the context's error and no limit kind", err, Kind(err))
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the call ran %v after its context's deadline of 50ms", d)
	}
	if _, err := m.Call(ctx, nil, Limits{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Call with a done context: %v", err)
	}
}

// TestWasmtimeCompileCache: the second engine loads the module from the cache; a corrupted
// entry is recompiled, not loaded.
func TestWasmtimeCompileCache(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	wasm := wat(t, watOutput)
	for round := 0; round < 3; round++ {
		e, err := newWasmtime(ctx, newWasmtimeConfig().WithCacheDir(dir))
		if err != nil {
			t.Fatal(err)
		}
		m, err := e.Load(ctx, wasm)
		if err != nil {
			t.Fatal(err)
		}
		res, err := m.Call(ctx, nil, Limits{})
		if err != nil || string(res.Output) != `{"answer":42}` {
			t.Fatalf("round %d: %s, %v", round, res.Output, err)
		}
		e.Close(ctx)
		entries, _ := filepath.Glob(filepath.Join(dir, "*.cwasm"))
		if len(entries) != 1 || !strings.Contains(entries[0], "wasmtime"+WasmtimeVersion) {
			t.Fatalf("round %d: cache holds %v, want one entry keyed by the wasmtime version", round, entries)
		}
		if round == 1 {
			// Flip a byte in the middle: the checksum must catch it.
			b, _ := os.ReadFile(entries[0])
			b[len(b)/2] ^= 0xff
			os.WriteFile(entries[0], b, 0o600)
		}
	}
}

// TestWasmtimeVersionMatchesGoMod keeps WasmtimeVersion, the cache key, in step with go.mod.
func TestWasmtimeVersionMatchesGoMod(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "go.mod"))
	if err != nil {
		t.Skip(err)
	}
	if want := "github.com/bytecodealliance/wasmtime-go/v39 v" + WasmtimeVersion; !strings.Contains(string(b), want) {
		t.Errorf("go.mod does not require %q: update WasmtimeVersion", want)
	}
}

// TestWasmtimeHammer: P goroutines released together call one module N times each; every call
// gets its own store, so results never mix.
func TestWasmtimeHammer(t *testing.T) {
	P, N := 8, 20
	if testing.Short() {
		N = 5
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(P / 2))
	m := loadWT(t, testWasmtime(t), wat(t, watGrow))
	var start, done sync.WaitGroup
	start.Add(1)
	errs := make(chan error, P*N)
	for p := 0; p < P; p++ {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			for i := 0; i < N; i++ {
				mib := uint32(1 + (p+i)%4)
				res, err := m.Call(context.Background(), nil, Limits{MemoryMiB: mib})
				switch {
				case err != nil:
					errs <- err
				case res.Usage.PeakMemoryPages != mib*16:
					errs <- errors.New("a call saw another call's memory limit")
				}
			}
		}()
	}
	start.Done()
	done.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestWasmtimeClose: Close stops the epoch ticker and is idempotent; nothing runs afterwards.
func TestWasmtimeClose(t *testing.T) {
	ctx := context.Background()
	e, err := newWasmtime(ctx, newWasmtimeConfig())
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.Load(ctx, wat(t, watOutput))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-e.done:
	default:
		t.Error("the epoch ticker is still running after Close")
	}
	if err := e.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := m.Call(ctx, nil, Limits{}); err == nil {
		t.Error("Call after Close succeeded")
	}
	if _, err := e.Load(ctx, wat(t, watOutput)); err == nil {
		t.Error("Load after Close succeeded")
	}
}

// TestWasmtimeRejectsSIMD: SIMD is off (SECURITY.md, GHSA-qqfj-4vcm-26hv), so a SIMD module
// fails to load as an invalid module rather than reaching the affected code generator.
func TestWasmtimeRejectsSIMD(t *testing.T) {
	simd := wat(t, `(module (memory (export "memory") 1)
	  (func (export "_start") (drop (f64x2.splat (f64.const 1)))))`)
	_, err := testWasmtime(t).Load(context.Background(), simd)
	if !errors.Is(err, ErrInvalidModule) {
		t.Fatalf("Load of a SIMD module: %v, want ErrInvalidModule", err)
	}
}

// TestWasmtimeRewriteContract runs modules rewritten by sandbox/internal/rewrite: the engine offers its
// imports under the names both take from wasm/abi (one definition, so no check here compares them), sets the module's own fuel from Limits.Fuel, reports that
// count, and classifies its limit traps.
func TestWasmtimeRewriteContract(t *testing.T) {
	e := testWasmtime(t)
	pipeline := rewrite.NewPipeline().WithMeter(0).WithStackLimit(1000)
	tests := []struct {
		name string
		wasm string
		lim  Limits
		want error
	}{
		{"fuel", watLoop, Limits{Fuel: 100_000}, ErrFuelExhausted},
		{"depth", watRecursion, Limits{}, ErrStackOverflow},
		{"ok", watOutput, Limits{Fuel: 100_000}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wasm, err := pipeline.Rewrite(wat(t, tt.wasm))
			if err != nil {
				t.Fatal(err)
			}
			m := loadWT(t, e, wasm)
			res, err := m.Call(context.Background(), []byte(`{}`), tt.lim)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Call: %v, want %v", err, tt.want)
			}
			if tt.want == ErrFuelExhausted && (res.Usage.Fuel < tt.lim.Fuel || res.Usage.Fuel > tt.lim.Fuel+1000) {
				t.Errorf("fuel used %d: want the budget %d plus at most one run's overdraft", res.Usage.Fuel, tt.lim.Fuel)
			}
			if tt.want == nil && (res.Usage.Fuel == 0 || res.Usage.Fuel >= tt.lim.Fuel) {
				t.Errorf("fuel used %d of %d: want the module's own count", res.Usage.Fuel, tt.lim.Fuel)
			}
		})
	}
}

// TestWasmtimeCacheKeyCoversSettings: every engine setting changes the cache key, so code
// compiled under one configuration is never loaded by another.
func TestWasmtimeCacheKeyCoversSettings(t *testing.T) {
	base := newWasmtimeConfig()
	variants := map[string]wasmtimeConfig{
		"stack":  base.WithMaxWasmStack(2 << 20),
		"nofuel": func() wasmtimeConfig { c := base; c.noFuel = true; return c }(),
	}
	for name, c := range variants {
		if c.cacheKey() == base.cacheKey() {
			t.Errorf("%s: same cache key %q as the default configuration", name, c.cacheKey())
		}
	}
	if base.WithEpochTick(time.Second).cacheKey() != base.cacheKey() {
		t.Error("the epoch tick does not change compiled code but changed the cache key")
	}
}
