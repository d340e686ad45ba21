//go:build linux

package sandbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sgde-project/sgde/internal/testlong"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/sandbox"
	"github.com/sgde-project/sgde/wasm"
)

var (
	reactorMods moduleTable
)

// loadReactor builds the node at path with -buildmode=c-shared in a private module (as
// wasm.Builder builds commands) once per test binary and loads it into the metered engine.
func loadReactor(t testing.TB, path string) sandbox.Module {
	t.Helper()
	skipUnderRace(t)
	e := metered(t)
	m := reactorMods.entry(path)
	m.once.Do(func() {
		var raw []byte
		if raw, m.err = buildReactorWasm(t, path); m.err == nil {
			m.mod, m.err = e.Load(context.Background(), raw)
		}
	})
	if m.err != nil {
		t.Fatalf("reactor %s: %v", path, m.err)
	}
	return m.mod
}

var (
	reactorBuilderOnce sync.Once
	reactorBuilder     *wasm.Builder
	reactorBuilderErr  error
)

// buildReactorWasm builds the node at path as sgde builds it for the pooled engine: with
// wasm.WithReactor, so the tests run exactly the production entry file and SDK warm-up.
func buildReactorWasm(t testing.TB, path string) ([]byte, error) {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	reactorBuilderOnce.Do(func() { reactorBuilder, reactorBuilderErr = wasm.NewBuilder(wasm.WithReactor()) })
	if reactorBuilderErr != nil {
		return nil, reactorBuilderErr
	}
	art, err := reactorBuilder.Build(context.Background(), src, filepath.Base(path))
	if err != nil {
		return nil, err
	}
	return art.Wasm, nil
}

// TestPooledRestoresState: through the Engine API, state one call writes (package variables,
// a map, heap pages) is gone in the next, and the fuel of the same input is the same.
func TestPooledRestoresState(t *testing.T) {
	mod := loadReactor(t, "testdata/state_node.go")
	var fuel uint64
	for i := 0; i < 6; i++ {
		res, err := mod.Call(context.Background(), []byte(`{"k": "a"}`), sandbox.Limits{Timeout: time.Minute})
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		var out struct {
			Calls      int  `json:"calls"`
			SeenBefore bool `json:"seen_before"`
			Buf        int  `json:"buf"`
		}
		if err := json.Unmarshal(res.Output, &out); err != nil {
			t.Fatal(err)
		}
		if out.Calls != 1 || out.SeenBefore || out.Buf != 1<<16 {
			t.Fatalf("call %d: %s: state of an earlier call is visible", i, res.Output)
		}
		if !res.Usage.Metered || (i > 0 && res.Usage.Fuel != fuel) {
			t.Fatalf("call %d: usage %+v, first call used %d fuel", i, res.Usage, fuel)
		}
		fuel = res.Usage.Fuel
	}
}

// TestPooledMatchesCommand: the pre-initialised arith_program answers as the command build does,
// with less fuel (no initialisation), and survives a call that runs out of fuel.
func TestPooledMatchesCommand(t *testing.T) {
	recs := readGSM(t, "../testdata/gsm-hard/slice.jsonl")
	pooled := loadReactor(t, arithProgram)
	command := loadMetered(t, arithProgram)
	for _, r := range recs[:4] {
		in, _ := json.Marshal(map[string]string{"program": r.Code})
		want, err := command.Call(context.Background(), in, sandbox.Limits{Timeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pooled.Call(context.Background(), in, sandbox.Limits{Fuel: 1000, Timeout: time.Minute}); !errors.Is(err, sandbox.ErrFuelExhausted) {
			t.Fatalf("record %d with 1000 fuel: %v, want ErrFuelExhausted", r.Idx, err)
		}
		got, err := pooled.Call(context.Background(), in, sandbox.Limits{Timeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Output, want.Output) || got.Usage.Fuel >= want.Usage.Fuel {
			t.Fatalf("record %d: pooled %s (%d fuel), command %s (%d fuel)", r.Idx, got.Output, got.Usage.Fuel, want.Output, want.Usage.Fuel)
		}
	}
}

// TestPooledLimits: runaways and bombs on pooled instances end in their typed errors, the wall
// clock still stops a call with fuel to spare, and an initialiser that never ends fails Load.
func TestPooledLimits(t *testing.T) {
	loop := loadReactor(t, filepath.Join(hostileDir, "infinite_loop.go"))
	if _, err := loop.Call(context.Background(), []byte(`{}`), sandbox.Limits{Fuel: 50_000_000, Timeout: time.Minute}); !errors.Is(err, sandbox.ErrFuelExhausted) {
		t.Fatalf("infinite loop: %v, want ErrFuelExhausted", err)
	}
	if _, err := loop.Call(context.Background(), []byte(`{}`), sandbox.Limits{Fuel: plans.MaxFuel, Timeout: 200 * time.Millisecond}); !errors.Is(err, sandbox.ErrTimeout) {
		t.Fatalf("infinite loop, 200ms: %v, want ErrTimeout", err)
	}
	bomb := loadReactor(t, filepath.Join(hostileDir, "memory_bomb.go"))
	for i := 0; i < 3; i++ {
		res, err := bomb.Call(context.Background(), []byte(`{}`), sandbox.Limits{MemoryMiB: 16, Timeout: time.Minute})
		if !errors.Is(err, sandbox.ErrMemoryLimit) || res.Usage.PeakMemoryPages > 16*16 {
			t.Fatalf("memory bomb %d: %v, peak %d pages; want ErrMemoryLimit within 256 pages", i, err, res.Usage.PeakMemoryPages)
		}
	}
	raw, err := buildReactorWasm(t, filepath.Join(hostileDir, "init_forever.go"))
	if err != nil {
		t.Fatal(err)
	}
	// Initialisation runs under the caller's limits (WithLoadLimits), not the defaults: the
	// caller's fuel and the caller's timeout each stop it.
	if _, err := metered(t).Load(sandbox.WithLoadLimits(context.Background(), sandbox.Limits{Fuel: 50_000_000, Timeout: time.Minute}), raw); !errors.Is(err, sandbox.ErrFuelExhausted) {
		t.Fatalf("init that never ends, 5e7 fuel: Load %v, want ErrFuelExhausted", err)
	}
	// The timeout must be well under the time the default init fuel (plans.DefaultFuel) takes
	// to burn, or fuel runs out first: an idle machine burns 1e9 fuel of this loop in ~300 ms.
	const initTimeout = 50 * time.Millisecond
	start := time.Now()
	if _, err := metered(t).Load(sandbox.WithLoadLimits(context.Background(), sandbox.Limits{Timeout: initTimeout}), raw); !errors.Is(err, sandbox.ErrTimeout) {
		t.Fatalf("init that never ends, %v: Load %v, want ErrTimeout", initTimeout, err)
	}
	if took := time.Since(start); took > initTimeout+time.Second {
		t.Errorf("init that never ends, %v: Load took %v", initTimeout, took)
	}
}

// BenchmarkCodeCallPooled is BenchmarkCodeCall on the pre-initialised, pooled arith_program:
// clean state per call (restored snapshot), calls back to back.
func BenchmarkCodeCallPooled(b *testing.B) {
	recs := readGSM(b, "../testdata/gsm-hard/slice.jsonl")
	in, _ := json.Marshal(map[string]string{"program": recs[1].Code})
	callEach(b, loadReactor(b, arithProgram), in, sandbox.Limits{Timeout: time.Minute})
}

// TestPooledHammer calls one pooled Module from P goroutines released together: every call sees
// only its own input and the snapshot state.
func TestPooledHammer(t *testing.T) {
	mod := loadReactor(t, "testdata/state_node.go")
	P, N := 8, 5
	hammer(t, P, N, func(p, n int) error {
		res, err := mod.Call(context.Background(), []byte(fmt.Sprintf(`{"k": "g%d"}`, p)), sandbox.Limits{Timeout: time.Minute})
		if err != nil {
			return err
		}
		if want := `{"buf":65536,"calls":1,"seen_before":false}`; string(res.Output) != want {
			return fmt.Errorf("goroutine %d call %d: output %s, want %s", p, n, res.Output, want)
		}
		return nil
	})
}

// TestPooledHostileCorpus runs every Go corpus entry that reaches an engine as a pre-initialised
// reactor. The outcome is the metered one, except where initialisation itself fails: then Load
// fails with the same kind ("pooled" in expect.json where the outcome differs).
// pooledSample is the part of the hostile corpus TestPooledHostileCorpus runs in `make test`:
// one entry per outcome, and every entry whose behaviour depends on the snapshot (initialisers,
// static data, state across calls). Each entry costs a reactor build, a snapshot and a compile
// (~6 minutes for all 21 on the loaded 2-core machine, half the package), and the other entries'
// outcomes are already checked on the plain and metered engines; SGDE_TEST_LONG=1 runs them all.
var pooledSample = map[string]bool{
	"infinite_loop.go": true, "init_forever.go": true, "double_run.go": true, "deadlock.go": true,
	"deep_recursion.go": true, "memory_bomb.go": true, "static_data.go": true, "huge_output.go": true,
	"nil_deref.go": true, "nondeterminism.go": true, "goroutine_flood.go": true,
}

func TestPooledHostileCorpus(t *testing.T) {
	skipUnderRace(t)
	raw, err := os.ReadFile(filepath.Join(hostileDir, "expect.json"))
	if err != nil {
		t.Fatal(err)
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatal(err)
	}
	for name, v := range all {
		var e struct {
			Expect, Metered, Pooled string
		}
		if !strings.HasSuffix(name, ".go") || json.Unmarshal(v, &e) != nil {
			continue
		}
		want := e.Expect
		if e.Metered != "" {
			want = e.Metered
		}
		if e.Pooled != "" {
			want = e.Pooled
		}
		switch want {
		case "rejected", "build_failed", "build_timeout":
			continue
		}
		if !pooledSample[name] && !testlong.Enabled() {
			continue
		}
		t.Run(name, func(t *testing.T) {
			wasmBytes, err := buildReactorWasm(t, filepath.Join(hostileDir, name))
			if err != nil {
				t.Fatal(err)
			}
			lim := sandbox.Limits{MemoryMiB: 64, Timeout: 5 * time.Minute}
			if want == "fuel_exhausted" {
				lim.Fuel = 200_000_000
			}
			// Initialisation runs under the call's limits.
			mod, err := metered(t).Load(sandbox.WithLoadLimits(context.Background(), lim), wasmBytes)
			got := "ok"
			var res sandbox.Result
			if err == nil {
				defer mod.Close(context.Background())
				res, err = mod.Call(context.Background(), []byte(`{"x": 1}`), lim)
			}
			if err != nil {
				got = sandbox.Kind(err)
			}
			if got != want {
				t.Fatalf("outcome %q, want %q (err: %v, stderr: %.300s)", got, want, err, res.Stderr)
			}
		})
	}
}

// TestPooledFuelIsExact: the fuel a call reports is what it needs, on both module kinds,
// whatever the budget: the same call reports the same fuel with exactly that budget and with
// more, and runs out with half of it (the budget is handed out in slices, so this checks the
// slices are accounted for).
func TestPooledFuelIsExact(t *testing.T) {
	in := []byte(`{"program": "def solution():\n    t = 0\n    for i in range(3000):\n        t += i * i\n    return t\n"}`)
	for name, mod := range map[string]sandbox.Module{"reactor": loadReactor(t, arithProgram), "command": loadMetered(t, arithProgram)} {
		res, err := mod.Call(context.Background(), in, sandbox.Limits{Timeout: time.Minute})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		used := res.Usage.Fuel
		if used < 1<<21 {
			t.Fatalf("%s: %d fuel; the test wants a call longer than two slices", name, used)
		}
		for _, budget := range []uint64{used, used + 12345, used + 3<<20} {
			again, err := mod.Call(context.Background(), in, sandbox.Limits{Timeout: time.Minute, Fuel: budget})
			if err != nil || again.Usage.Fuel != used || string(again.Output) != string(res.Output) {
				t.Fatalf("%s with %d fuel: %s, %d fuel, %v; want %s, %d fuel", name, budget, again.Output, again.Usage.Fuel, err, res.Output, used)
			}
		}
		if _, err := mod.Call(context.Background(), in, sandbox.Limits{Timeout: time.Minute, Fuel: used / 2}); !errors.Is(err, sandbox.ErrFuelExhausted) {
			t.Fatalf("%s with %d fuel (half of %d): %v, want ErrFuelExhausted", name, used/2, used, err)
		}
		// One more loop round costs a little more fuel, not a whole slice more or nothing.
		more, err := mod.Call(context.Background(), bytes.Replace(in, []byte("3000"), []byte("3001"), 1), sandbox.Limits{Timeout: time.Minute})
		if err != nil || more.Usage.Fuel <= used || more.Usage.Fuel-used > 10_000 {
			t.Fatalf("%s: one more round used %d fuel against %d (%v)", name, more.Usage.Fuel, used, err)
		}
	}
}

// TestPooledStateDoesNotLeak calls a hand-written reactor that writes to stdout, reads a clock
// and the random source, and closes stdout, many times on its pool: every call must answer
// exactly what the first did, so no descriptor, clock or random state survives a call. A
// reactor with a start section is refused for pooling.
func TestPooledStateDoesNotLeak(t *testing.T) {
	skipUnderRace(t)
	mod, err := metered(t).Load(context.Background(), mustRead(t, filepath.Join(hostileDir, "pool_state.wasm")))
	if err != nil {
		t.Fatal(err)
	}
	defer mod.Close(context.Background())
	var first string
	for i := 0; i < 5; i++ {
		res, err := mod.Call(context.Background(), []byte(`{}`), sandbox.Limits{Timeout: time.Minute})
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		out := string(res.Output)
		if i == 0 {
			first = out
			// fd_write to stdout and fd_close(1) both succeed (errno 0, "a") on a clean instance.
			if !strings.HasPrefix(out, `{"s":"a`) || out[len(`{"s":"aXY`)] != 'a' {
				t.Fatalf("first call: %s, want stdout writable and closable", out)
			}
			continue
		}
		if out != first {
			t.Fatalf("call %d answered %s, the first %s: state survived a call", i, out, first)
		}
	}
	if _, err := metered(t).Load(context.Background(), mustRead(t, filepath.Join(hostileDir, "pool_start_state.wasm"))); !errors.Is(err, sandbox.ErrInvalidModule) {
		t.Fatalf("reactor with a start section: %v, want ErrInvalidModule", err)
	}
}
