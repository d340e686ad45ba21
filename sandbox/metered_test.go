package sandbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sgde-project/sgde/internal/testcache"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/sandbox"
	"github.com/sgde-project/sgde/sandbox/internal/rewrite"
	"github.com/sgde-project/sgde/wasm"
)

// The metered engine shares the unmetered tests' builder and compilation cache directory (the
// cache is keyed by module bytes, and rewritten modules differ from their originals).
var (
	meteredOnce   sync.Once
	meteredEngine sandbox.Engine
	meteredErr    error

	meteredMods moduleTable
)

func metered(t testing.TB) sandbox.Engine {
	t.Helper()
	shared(t)
	meteredOnce.Do(func() {
		cacheDir := testcache.Dir("wazero")
		if raceEnabled {
			precompileMetered(t, cacheDir)
		}
		meteredEngine, meteredErr = sandbox.New(context.Background(), plans.EngineWazero, sandbox.WithCompilationCacheDir(cacheDir))
	})
	if meteredErr != nil {
		t.Fatal(meteredErr)
	}
	return meteredEngine
}

// precompileMetered compiles the modules the metered tests run under -race into the cache, with
// a process built without -race (see sandbox/internal/precompile).
func precompileMetered(t testing.TB, cacheDir string) {
	files := []string{arithProgram, filepath.Join(hostileDir, "infinite_loop.go"), filepath.Join(hostileDir, "output_direct.wasm")}
	start := time.Now()
	cmd := exec.Command("go", append([]string{"run", "github.com/sgde-project/sgde/sandbox/internal/precompile", "-cache", cacheDir, "-metered"}, files...)...)
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Logf("precompile -metered (without -race) failed, modules compile under -race instead: %v\n%s", err, out)
		return
	}
	t.Logf("precompiled %d metered modules without -race in %v", len(files), time.Since(start).Round(time.Millisecond))
}

// skipUnderRace skips tests that rewrite and compile several Go guests: under -race wazero
// compiles about ten times slower and the precompile step warms only unmetered modules.
// SGDE_TEST_SLOW_RACE=1 runs them anyway.
func skipUnderRace(t testing.TB) {
	t.Helper()
	if raceEnabled && os.Getenv("SGDE_TEST_SLOW_RACE") == "" {
		t.Skip("compiles several metered Go guests; run without -race (or set SGDE_TEST_SLOW_RACE=1)")
	}
}

// loadMetered builds path (a .go node or a .wasm module) once per test binary and loads it into
// the metered engine.
func loadMetered(t testing.TB, path string) sandbox.Module {
	t.Helper()
	e := metered(t)
	m := meteredMods.entry(path)
	m.once.Do(func() {
		var raw []byte
		if strings.HasSuffix(path, ".go") {
			var art *wasm.Artifact
			art, _ = load(t, path)
			raw = art.Wasm
		} else if raw, m.err = os.ReadFile(path); m.err != nil {
			return
		}
		m.mod, m.err = e.Load(context.Background(), raw)
	})
	if m.err != nil {
		t.Fatalf("load %s into the metered engine: %v", path, m.err)
	}
	return m.mod
}

// TestMeteredDeterministic: the same input gives the same output and the same fuel on every
// call, and the output is the unmetered engine's.
func TestMeteredDeterministic(t *testing.T) {
	recs := readGSM(t, "../testdata/gsm-hard/slice.jsonl")
	mod := loadMetered(t, arithProgram)
	_, plain := load(t, arithProgram)
	n := 4
	if raceEnabled {
		n = 2
	}
	for _, r := range recs[:n] {
		in, _ := json.Marshal(map[string]string{"program": r.Code})
		want, err := plain.Call(context.Background(), in, sandbox.Limits{Timeout: time.Minute})
		if err != nil {
			t.Fatalf("record %d unmetered: %v", r.Idx, err)
		}
		var fuel uint64
		for i := 0; i < 3; i++ {
			res, err := mod.Call(context.Background(), in, sandbox.Limits{Timeout: time.Minute})
			if err != nil {
				t.Fatalf("record %d call %d: %v", r.Idx, i, err)
			}
			if !res.Usage.Metered || res.Usage.Fuel == 0 {
				t.Fatalf("record %d: usage %+v, want metered with fuel", r.Idx, res.Usage)
			}
			if !bytes.Equal(res.Output, want.Output) {
				t.Fatalf("record %d: output %s, unmetered %s", r.Idx, res.Output, want.Output)
			}
			if i > 0 && res.Usage.Fuel != fuel {
				t.Fatalf("record %d: fuel %d on call %d, %d before", r.Idx, res.Usage.Fuel, i, fuel)
			}
			fuel = res.Usage.Fuel
		}
		// A budget of exactly the fuel used suffices; one less does not.
		if _, err := mod.Call(context.Background(), in, sandbox.Limits{Fuel: fuel, Timeout: time.Minute}); err != nil {
			t.Fatalf("record %d with exactly %d fuel: %v", r.Idx, fuel, err)
		}
		if _, err := mod.Call(context.Background(), in, sandbox.Limits{Fuel: fuel / 2, Timeout: time.Minute}); !errors.Is(err, sandbox.ErrFuelExhausted) {
			t.Fatalf("record %d with %d fuel: %v, want ErrFuelExhausted", r.Idx, fuel/2, err)
		}
		t.Logf("record %d: %d fuel", r.Idx, fuel)
	}
}

// TestMeteredLimits: runaways end in the typed error of the limit that stops them, with a
// wall timeout far away so that only fuel or depth can be the cause.
func TestMeteredLimits(t *testing.T) {
	skipUnderRace(t)
	for _, tt := range []struct {
		file string
		fuel uint64
		want error
	}{
		{"infinite_loop.go", 50_000_000, sandbox.ErrFuelExhausted},
		{"exponential_recursion.go", 50_000_000, sandbox.ErrFuelExhausted},
		{"big_exponent.go", 50_000_000, sandbox.ErrFuelExhausted},
		{"init_forever.go", 50_000_000, sandbox.ErrFuelExhausted},
		{"loop_start.wasm", 50_000_000, sandbox.ErrFuelExhausted},
		// Go grows its goroutine stack by switching to g0, which unwinds the wasm stack, so the
		// Go runtime's own 8 MiB cap (set by the SDK) stops Go recursion before the depth limit.
		{"deep_recursion.go", 0, sandbox.ErrStackOverflow},
		{"recursion.wasm", 0, sandbox.ErrStackOverflow},
	} {
		t.Run(tt.file, func(t *testing.T) {
			mod := loadMetered(t, filepath.Join(hostileDir, tt.file))
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			res, err := mod.Call(context.Background(), []byte(`{}`), sandbox.Limits{Fuel: tt.fuel, Timeout: 5 * time.Minute})
			runtime.ReadMemStats(&after)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if !res.Usage.Metered {
				t.Fatalf("usage %+v is not metered", res.Usage)
			}
			if tt.want == sandbox.ErrFuelExhausted && tt.fuel > 0 && (res.Usage.Fuel < tt.fuel || res.Usage.Fuel > tt.fuel+1_000_000) {
				t.Fatalf("used %d fuel of %d: want the budget plus at most one run", res.Usage.Fuel, tt.fuel)
			}
			if tt.file == "recursion.wasm" && !strings.Contains(err.Error(), "nested guest calls") {
				t.Fatalf("err = %v: not the depth limit (wazero's or Go's own limit came first)", err)
			}
			// Host memory: the guest's 64 MiB linear memory at most, plus wazero's native stack,
			// which without the depth limit reached ~170 MB on deep recursion.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 80<<20 {
				t.Fatalf("the call allocated %d MiB on the host", alloc>>20)
			}
			t.Logf("%v (wall %v, fuel %d, host alloc %d KiB)", err, res.Usage.Wall, res.Usage.Fuel, (after.TotalAlloc-before.TotalAlloc)>>10)
		})
	}
}

// TestMeteredBackstop: with fuel to spare, the wall timeout and the caller's context still stop
// a metered guest, though the runtime does not close modules on context done.
func TestMeteredBackstop(t *testing.T) {
	mod := loadMetered(t, filepath.Join(hostileDir, "infinite_loop.go"))
	start := time.Now()
	res, err := mod.Call(context.Background(), []byte(`{}`), sandbox.Limits{Fuel: plans.MaxFuel, Timeout: 200 * time.Millisecond})
	if !errors.Is(err, sandbox.ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Fatalf("a 200ms timeout returned after %v", took)
	}
	if !res.Usage.Metered || res.Usage.Fuel == 0 || res.Usage.Fuel > plans.MaxFuel {
		t.Fatalf("usage %+v: want the fuel used before the backstop", res.Usage)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = mod.Call(ctx, []byte(`{}`), sandbox.Limits{Fuel: plans.MaxFuel, Timeout: time.Hour})
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, sandbox.ErrTimeout) {
		t.Fatalf("err = %v, want the caller's context error, not ErrTimeout", err)
	}

	// The instance after a backstop is gone: the next call is clean and runs normally.
	arith := loadMetered(t, arithProgram)
	if _, err := arith.Call(context.Background(), []byte(`{"program": "def solution():\n    return 1\n"}`), sandbox.Limits{Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
}

// TestMeteredRefusesInstrumented: a module cannot bring its own meter (and so its own fuel).
func TestMeteredRefusesInstrumented(t *testing.T) {
	e := metered(t)
	raw, err := os.ReadFile(filepath.Join(hostileDir, "output_direct.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	once, err := e.Load(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	defer once.Close(context.Background())
	// Feed the engine a module that already exports sgde_fuel.
	instrumented, err := rewrite.Meter(raw, 1<<40)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Load(context.Background(), instrumented); !errors.Is(err, sandbox.ErrInvalidModule) {
		t.Fatalf("load of a pre-metered module: %v, want ErrInvalidModule", err)
	}
}

// TestMeteredHammer calls one metered Module from P goroutines released together; every call
// must see only its own input and report the same fuel for the same program shape.
func TestMeteredHammer(t *testing.T) {
	mod := loadMetered(t, arithProgram)
	P, N := 8, 4
	if testing.Short() || raceEnabled {
		N = 2
	}
	var fuelMu sync.Mutex
	fuels := map[uint64]int{}
	hammer(t, P, N, func(p, n int) error {
		v := 100000 + p*1000 + n // same number of digits: same work
		in := fmt.Sprintf(`{"program": "def solution():\n    return %d\n"}`, v)
		res, err := mod.Call(context.Background(), []byte(in), sandbox.Limits{Timeout: time.Minute})
		if err != nil {
			return err
		}
		if want := fmt.Sprintf(`{"answer":%d}`, v); string(bytes.ReplaceAll(res.Output, []byte(" "), nil)) != want {
			return fmt.Errorf("call %d: output %s, want %s", v, res.Output, want)
		}
		fuelMu.Lock()
		fuels[res.Usage.Fuel]++
		fuelMu.Unlock()
		return nil
	})
	if len(fuels) != 1 {
		t.Errorf("fuel per call varied across concurrent calls: %v", fuels)
	}
}

// meteredExpect is expect.json's outcome under the metered engine: "metered" where it differs.
type meteredExpect struct {
	Expect  string `json:"expect"`
	Metered string `json:"metered"`
}

// TestMeteredHostileCorpus runs every corpus entry that reaches an engine through the metered
// engine. Runaways that the unmetered engine stops by wall time stop by fuel here, with a
// budget small enough and a timeout large enough that only fuel can stop them.
func TestMeteredHostileCorpus(t *testing.T) {
	skipUnderRace(t)
	raw, err := os.ReadFile(filepath.Join(hostileDir, "expect.json"))
	if err != nil {
		t.Fatal(err)
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		if strings.HasPrefix(name, "_") {
			continue
		}
		var e meteredExpect
		if err := json.Unmarshal(all[name], &e); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := e.Expect
		if e.Metered != "" {
			want = e.Metered
		}
		switch want {
		case "rejected", "build_failed", "build_timeout":
			continue
		case "timeout":
			t.Errorf("%s: the metered engine never times out a corpus entry; give it a \"metered\" outcome", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			// In parallel, as TestHostileCorpus: each entry is a build and a compile, and the
			// engine is safe for concurrent use (TestMeteredHammer).
			t.Parallel()
			p := filepath.Join(hostileDir, name)
			var mod sandbox.Module
			if strings.HasSuffix(name, ".go") {
				if err := wasm.Validate(mustRead(t, p), name); err != nil {
					t.Fatalf("validate: %v", err)
				}
				if want == "invalid_module" {
					_, err := metered(t).Load(context.Background(), buildOnly(t, p))
					if got := sandbox.Kind(err); got != want {
						t.Fatalf("load: outcome %q, want %q (%v)", got, want, err)
					}
					return
				}
				mod = loadMetered(t, p)
			} else {
				// Initialisation runs under the call's limits (a reactor's _initialize).
				m, err := metered(t).Load(sandbox.WithLoadLimits(context.Background(), sandbox.Limits{Fuel: 200_000_000}), mustRead(t, p))
				if err != nil {
					if got := sandbox.Kind(err); got != want {
						t.Fatalf("load: outcome %q, want %q (%v)", got, want, err)
					}
					return
				}
				defer m.Close(context.Background())
				mod = m
			}
			lim := sandbox.Limits{MemoryMiB: 64, MaxOutputBytes: 1 << 20, Timeout: 5 * time.Minute}
			if want == "fuel_exhausted" {
				lim.Fuel = 200_000_000
			}
			res, err := mod.Call(context.Background(), []byte(`{"x": 1}`), lim)
			got := "ok"
			if err != nil {
				got = sandbox.Kind(err)
			}
			if got != want {
				t.Fatalf("outcome %q, want %q (err: %v, stderr: %.300s)", got, want, err, res.Stderr)
			}
			if !res.Usage.Metered && err == nil {
				t.Fatalf("usage %+v is not metered", res.Usage)
			}
		})
	}
}

func mustRead(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMeteredTimeoutWithoutFreeThread: a call's timeout stops it even when no other thread is
// free to run a timer or a watchdog goroutine (GOMAXPROCS 1, several runaway calls at once):
// compiled guest code is not preemptible, so the stop must come from the guest's own fuel
// checks. Before the fuel was handed out in slices, these calls ran until their fuel was gone
// (with MaxFuel, hours), and the test hung until go test's -timeout killed it.
func TestMeteredTimeoutWithoutFreeThread(t *testing.T) {
	mods := map[string]sandbox.Module{"command": loadMetered(t, filepath.Join(hostileDir, "infinite_loop.go"))}
	if !raceEnabled {
		mods["reactor"] = loadReactor(t, filepath.Join(hostileDir, "infinite_loop.go"))
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	for name, mod := range mods {
		var wg sync.WaitGroup
		errs := make([]error, 3)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = mod.Call(context.Background(), []byte(`{}`), sandbox.Limits{Fuel: plans.MaxFuel, Timeout: 100 * time.Millisecond})
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if !errors.Is(err, sandbox.ErrTimeout) {
				t.Errorf("%s call %d: %v, want ErrTimeout", name, i, err)
			}
		}
	}
}
