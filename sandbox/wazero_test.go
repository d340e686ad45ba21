package sandbox_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/sgde-project/sgde/internal/testlong"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/sandbox"
)

func TestCallLimits(t *testing.T) {
	_, mod := load(t, "../testdata/hostile/memory_bomb.go")
	for _, mib := range []uint32{16, 48} {
		res, err := mod.Call(context.Background(), []byte(`{}`), sandbox.Limits{MemoryMiB: mib, Timeout: time.Minute})
		if !errors.Is(err, sandbox.ErrMemoryLimit) {
			t.Fatalf("%d MiB: %v, want ErrMemoryLimit", mib, err)
		}
		if res.Usage.PeakMemoryPages == 0 || res.Usage.PeakMemoryPages > mib*16 {
			t.Fatalf("%d MiB: peak %d pages, want (0, %d]", mib, res.Usage.PeakMemoryPages, mib*16)
		}
		if res.Usage.Metered || res.Usage.Wall <= 0 {
			t.Fatalf("usage %+v", res.Usage)
		}
	}
	// A limit below the module's initial memory fails before anything runs.
	_, err := mod.Call(context.Background(), []byte(`{}`), sandbox.Limits{MemoryMiB: 1})
	if !errors.Is(err, sandbox.ErrMemoryLimit) {
		t.Fatalf("1 MiB: %v, want ErrMemoryLimit", err)
	}
	// Above the engine's maximum is the caller's mistake, not a limit hit by the guest.
	_, err = mod.Call(context.Background(), []byte(`{}`), sandbox.Limits{MemoryMiB: plans.MaxMemoryMiB + 1})
	if err == nil || sandbox.Kind(err) != "" {
		t.Fatalf("over engine maximum: %v, want an unclassified error", err)
	}
}

func TestCallerCancellation(t *testing.T) {
	_, mod := load(t, "../testdata/hostile/infinite_loop.go")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := mod.Call(ctx, []byte(`{}`), sandbox.Limits{Timeout: time.Minute})
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, sandbox.ErrTimeout) {
		t.Fatalf("err = %v, want the caller's context error, not ErrTimeout", err)
	}
}

func TestInputReachesGuest(t *testing.T) {
	_, mod := load(t, arithProgram)
	for _, tt := range []struct{ in, want string }{
		{`{"program": "def solution():\n    return 7 * 6\n"}`, `{"answer":42}`},
		{`{"program": "def solution():\n    return 1 / 4\n"}`, `{"answer":0.25}`},
	} {
		res, err := mod.Call(context.Background(), []byte(tt.in), sandbox.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if got := string(bytes.ReplaceAll(res.Output, []byte(" "), nil)); got != tt.want {
			t.Errorf("%s: output %s, want %s", tt.in, got, tt.want)
		}
	}
	_, err := mod.Call(context.Background(), []byte(`[1, 2]`), sandbox.Limits{})
	if !errors.Is(err, sandbox.ErrGuest) {
		t.Fatalf("non-object input: %v, want ErrGuest (bad input)", err)
	}
}

// TestHammer calls one Module from P goroutines released together; every call must see only
// its own input.
func TestHammer(t *testing.T) {
	_, mod := load(t, arithProgram)
	P, N := 8, 6
	if testing.Short() {
		N = 2
	}
	hammer(t, P, N, func(p, n int) error {
		v := p*1000 + n
		in := fmt.Sprintf(`{"program": "def solution():\n    return %d\n"}`, v)
		res, err := mod.Call(context.Background(), []byte(in), sandbox.Limits{Timeout: time.Minute})
		if err != nil {
			return err
		}
		if want := fmt.Sprintf(`{"answer":%d}`, v); string(bytes.ReplaceAll(res.Output, []byte(" "), nil)) != want {
			return fmt.Errorf("call %d: output %s, want %s", v, res.Output, want)
		}
		return nil
	})
}

// TestSurvivesHostileRuns runs 1,000 hostile calls and checks that the host's heap returns to
// where it started and that every run of the same input gives the same outcome.
func TestSurvivesHostileRuns(t *testing.T) {
	cases := []struct {
		file string
		lim  sandbox.Limits
	}{
		{"memory_bomb.go", sandbox.Limits{MemoryMiB: 8, Timeout: time.Minute}},
		{"huge_alloc.go", sandbox.Limits{MemoryMiB: 8, Timeout: time.Minute}},
		{"double_run.go", sandbox.Limits{MemoryMiB: 8, Timeout: time.Minute}},
		{"forge_stdout.go", sandbox.Limits{MemoryMiB: 8, MaxOutputBytes: 16, Timeout: time.Minute}},
		{"nil_deref.go", sandbox.Limits{MemoryMiB: 8, Timeout: time.Minute}},
		{"infinite_loop.go", sandbox.Limits{MemoryMiB: 8, Timeout: 5 * time.Millisecond}},
		{"loop_start.wasm", sandbox.Limits{MemoryMiB: 8, Timeout: 5 * time.Millisecond}},
		{"grow_bomb.wasm", sandbox.Limits{MemoryMiB: 8, Timeout: time.Minute}},
		{"output_length_huge.wasm", sandbox.Limits{MemoryMiB: 8, Timeout: time.Minute}},
	}
	runs := 1000
	if !testlong.Enabled() || testing.Short() || raceEnabled {
		// Under -race every call costs ~10x more; the full 1,000 run in make test-long.
		runs = 200
	}
	_, e := shared(t)
	mods := make([]sandbox.Module, len(cases))
	for i, c := range cases {
		p := filepath.Join(hostileDir, c.file)
		if filepath.Ext(p) == ".go" {
			_, mods[i] = load(t, p)
			continue
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if mods[i], err = e.Load(context.Background(), raw); err != nil {
			t.Fatal(err)
		}
		defer mods[i].Close(context.Background())
	}
	first := make([]string, len(cases))
	outcome := func(i int) string {
		res, err := mods[i].Call(context.Background(), []byte(`{}`), cases[i].lim)
		return fmt.Sprintf("%s|%s|%s", sandbox.Kind(err), res.Output, res.Stdout)
	}
	for i := range cases {
		first[i] = outcome(i)
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	// Two workers, as a runtime serving a plan would run nodes side by side.
	const workers = 2
	spent := make([][]time.Duration, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		spent[w] = make([]time.Duration, len(cases))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := w; r < runs; r += workers {
				i := r % len(cases)
				start := time.Now()
				if got := outcome(i); got != first[i] {
					t.Errorf("run %d of %s: outcome %.200q, first run %.200q", r, cases[i].file, got, first[i])
					return
				}
				spent[w][i] += time.Since(start)
			}
		}()
	}
	wg.Wait()
	for i, c := range cases {
		t.Logf("%s: %v per run, outcome %.80q", c.file, (spent[0][i]+spent[1][i])/time.Duration(runs/len(cases)), first[i])
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d hostile runs: heap %d -> %d bytes, %d goroutines", runs, before.HeapAlloc, after.HeapAlloc, runtime.NumGoroutine())
	if growth > 32<<20 {
		t.Fatalf("heap grew by %d MiB over %d hostile runs", growth>>20, runs)
	}
}

func TestEngineClose(t *testing.T) {
	ctx := context.Background()
	e, err := sandbox.New(ctx, plans.EngineWazero, sandbox.WithMetering(sandbox.MeterWallClock))
	if err != nil {
		t.Fatal(err)
	}
	if e.Name() != "wazero" {
		t.Fatalf("name %q", e.Name())
	}
	raw, err := os.ReadFile(filepath.Join(hostileDir, "output_direct.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	mod, err := e.Load(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	res, err := mod.Call(ctx, []byte(`{}`), sandbox.Limits{})
	if err != nil || string(res.Output) != `{"answer":42}` {
		t.Fatalf("output %s, err %v", res.Output, err)
	}
	if err := e.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := mod.Call(ctx, []byte(`{}`), sandbox.Limits{}); err == nil {
		t.Fatal("call after engine Close succeeded")
	}
}

func TestOversizedModule(t *testing.T) {
	ctx := context.Background()
	e, err := sandbox.New(ctx, plans.EngineWazero, sandbox.WithMetering(sandbox.MeterWallClock), sandbox.WithMaxModuleBytes(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	big := append([]byte("\x00asm\x01\x00\x00\x00"), make([]byte, 1<<20)...)
	if _, err := e.Load(ctx, big); !errors.Is(err, sandbox.ErrInvalidModule) {
		t.Fatalf("err = %v, want ErrInvalidModule", err)
	}
}

func TestKind(t *testing.T) {
	for _, err := range []error{sandbox.ErrFuelExhausted, sandbox.ErrTimeout, sandbox.ErrMemoryLimit, sandbox.ErrStackOverflow,
		sandbox.ErrTrap, sandbox.ErrOutputTooLarge, sandbox.ErrBadOutput, sandbox.ErrGuest, sandbox.ErrInvalidModule} {
		wrapped := fmt.Errorf("call: %w", err)
		if sandbox.Kind(wrapped) == "" {
			t.Errorf("%v has no kind", err)
		}
	}
	if sandbox.Kind(errors.New("x")) != "" || sandbox.Kind(nil) != "" {
		t.Error("unknown errors must have no kind")
	}
}

// TestAbandonedLoadThenEngineShutdown: a load whose deadline passes mid-compilation returns at once while
// wazero's compiler runs on; closing the engine right after must wait for that compilation
// rather than free the runtime under it (a nil-map write that crashed the whole process).
func TestAbandonedLoadThenEngineShutdown(t *testing.T) {
	raw := buildOnly(t, arithProgram)
	// No compilation cache, so every load compiles; a whole load first, to time one.
	newEngine := func() sandbox.Engine {
		e, err := sandbox.New(context.Background(), plans.EngineWazero, sandbox.WithMetering(sandbox.MeterWallClock))
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	e := newEngine()
	start := time.Now()
	if _, err := e.Load(context.Background(), raw); err != nil {
		t.Fatal(err)
	}
	whole := time.Since(start)
	_ = e.Close(context.Background())

	// Half a load's time: past the checks, into the compilation, which goes on after Load
	// has returned.
	e = newEngine()
	ctx, cancel := context.WithTimeout(context.Background(), whole/2)
	_, err := e.Load(ctx, raw)
	cancel()
	if !errors.Is(err, sandbox.ErrTimeout) {
		t.Fatalf("load err = %v, want ErrTimeout", err)
	}
	if err := e.Close(context.Background()); err != nil {
		t.Fatalf("close: %v", err)
	}
	// Close has returned: an orphaned compilation would now write into the closed runtime.
	// Give one a whole load's time to do so (it would crash this test binary).
	time.Sleep(whole)
}
