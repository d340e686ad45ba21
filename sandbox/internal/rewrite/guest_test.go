package rewrite

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sgde-project/sgde/internal/wasmbin"
)

var workloads = []string{"big", "json", "maps", "rec", "gor", "loop", "deepish"}

var pipelines = []struct {
	name string
	p    Pipeline
}{
	{"roundtrip", NewPipeline()},
	{"merge", NewPipeline().WithMergeData(DefaultMergeGap)},
	{"meter", NewPipeline().WithMeter(0)},
	{"stack", NewPipeline().WithStackLimit(100000)},
	{"all", NewPipeline().WithMergeData(DefaultMergeGap).WithMeter(0).WithStackLimit(100000)},
}

func TestGoGuestRoundTripIsByteIdentical(t *testing.T) {
	orig := goGuest(t, "multi")
	m, err := wasmbin.Decode(orig)
	if err != nil {
		t.Fatal(err)
	}
	out, err := wasmbin.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, orig) {
		t.Fatalf("encode(decode(x)) differs from x (%d vs %d bytes)", len(out), len(orig))
	}
}

// TestGoGuestsEquivalent runs each workload in the original and every rewritten module and
// requires the same output; metered runs must report the same fuel every time.
func TestGoGuestsEquivalent(t *testing.T) {
	ctx := context.Background()
	orig := goGuest(t, "multi")
	r, c := newGuestRuntime(ctx, t, orig, nil)
	want := map[string]runResult{}
	for _, w := range workloads {
		res := runGuest(ctx, t, r, c, nil, 0, w)
		if res.err != nil || res.exit != 0 || !strings.HasPrefix(res.stdout, w+" ") {
			t.Fatalf("original %s: exit %d err %v out %q", w, res.exit, res.err, res.stdout)
		}
		want[w] = res
	}
	for _, pc := range pipelines {
		if raceEnabled && pc.name != "all" {
			continue // under -race, wazero runs several times slower; "all" covers every pass
		}
		t.Run(pc.name, func(t *testing.T) {
			out, err := pc.p.Rewrite(orig)
			if err != nil {
				t.Fatal(err)
			}
			wasmValidateOrLog(t, out)
			r, c := newGuestRuntime(ctx, t, out, nil)
			for _, w := range workloads {
				const budget = 1 << 50
				got := runGuest(ctx, t, r, c, nil, budget, w)
				if got.err != nil || got.exit != 0 || got.stdout != want[w].stdout {
					t.Fatalf("%s: exit %d err %v out %q, want %q", w, got.exit, got.err, got.stdout, want[w].stdout)
				}
				if pc.p.meter {
					if got.fuelUsed <= 0 {
						t.Fatalf("%s: fuel used %d", w, got.fuelUsed)
					}
					again := runGuest(ctx, t, r, c, nil, budget, w)
					if again.fuelUsed != got.fuelUsed {
						t.Fatalf("%s: fuel used %d then %d", w, got.fuelUsed, again.fuelUsed)
					}
					// The reported figure is the whole cost: exactly that budget suffices.
					exact := runGuest(ctx, t, r, c, nil, got.fuelUsed, w)
					if exact.err != nil || exact.stdout != want[w].stdout {
						t.Fatalf("%s: budget %d (the fuel used) failed: %v", w, got.fuelUsed, exact.err)
					}
					t.Logf("%s: fuel %d", w, got.fuelUsed)
				}
				// Go's _start ends in proc_exit, which unwinds the frames still live like a
				// trap does: the depth left behind is theirs, and must be the same every run.
				if pc.p.stackDepth > 0 {
					if again := runGuest(ctx, t, r, c, nil, budget, w); again.depth != got.depth || got.depth < 0 || got.depth > 64 {
						t.Fatalf("%s: depth %d then %d at exit", w, got.depth, again.depth)
					}
				}
			}
		})
	}
}

func TestGoGuestFuelExhaustion(t *testing.T) {
	ctx := context.Background()
	out, err := NewPipeline().WithMeter(0).WithStackLimit(100000).Rewrite(goGuest(t, "multi"))
	if err != nil {
		t.Fatal(err)
	}
	r, c := newGuestRuntime(ctx, t, out, nil)
	for _, tc := range []struct {
		workload string
		budget   int64
	}{{"forever", 5_000_000}, {"forever", 50_000_000}, {"loop", 100_000}, {"deep", 3_000_000}} {
		res := runGuest(ctx, t, r, c, nil, tc.budget, tc.workload)
		if !errors.Is(res.err, ErrOutOfFuel) {
			t.Fatalf("%s with %d fuel: err %v exit %d, want out of fuel", tc.workload, tc.budget, res.err, res.exit)
		}
		if res.fuelUsed <= tc.budget {
			t.Fatalf("%s: fuel used %d <= budget %d after exhaustion", tc.workload, res.fuelUsed, tc.budget)
		}
		again := runGuest(ctx, t, r, c, nil, tc.budget, tc.workload)
		if again.fuelUsed != res.fuelUsed {
			t.Fatalf("%s: exhaustion at %d then %d", tc.workload, res.fuelUsed, again.fuelUsed)
		}
	}
}

func TestGoGuestStackLimit(t *testing.T) {
	ctx := context.Background()
	orig := goGuest(t, "multi")
	for _, tc := range []struct {
		name     string
		p        Pipeline
		workload string
		want     error
	}{
		{"unbounded recursion", NewPipeline().WithStackLimit(10000), "deep", ErrStackOverflow},
		{"unbounded recursion metered", NewPipeline().WithMeter(0).WithStackLimit(10000), "deep", ErrStackOverflow},
		{"bounded recursion under the limit", NewPipeline().WithStackLimit(50000), "deepish", nil},
		{"bounded recursion over the limit", NewPipeline().WithStackLimit(5000), "deepish", ErrStackOverflow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := tc.p.Rewrite(orig)
			if err != nil {
				t.Fatal(err)
			}
			r, c := newGuestRuntime(ctx, t, out, nil)
			res := runGuest(ctx, t, r, c, nil, 1<<50, tc.workload)
			if tc.want == nil {
				if res.err != nil || res.exit != 0 {
					t.Fatalf("err %v exit %d", res.err, res.exit)
				}
				return
			}
			if !errors.Is(res.err, tc.want) || errors.Is(res.err, ErrOutOfFuel) {
				t.Fatalf("err %v exit %d, want %v", res.err, res.exit, tc.want)
			}
		})
	}
}

func TestSDKGuest(t *testing.T) {
	ctx := context.Background()
	orig := goGuest(t, "sdk")
	input := []byte(`{"xs":[1,2,3.5,1e3]}`)
	io := &hostIO{input: input}
	r, c := newGuestRuntime(ctx, t, orig, io)
	want := runGuest(ctx, t, r, c, io, 0)
	if want.err != nil || !strings.Contains(want.output, `"sum":1006.5`) {
		t.Fatalf("original: %v %q", want.err, want.output)
	}
	out, err := NewPipeline().WithMergeData(DefaultMergeGap).WithMeter(0).WithStackLimit(100000).Rewrite(orig)
	if err != nil {
		t.Fatal(err)
	}
	io2 := &hostIO{input: input}
	r2, c2 := newGuestRuntime(ctx, t, out, io2)
	got := runGuest(ctx, t, r2, c2, io2, 1<<40)
	if got.err != nil || got.output != want.output {
		t.Fatalf("rewritten: %v %q, want %q", got.err, got.output, want.output)
	}
}

// wasmValidateOrLog validates with wabt when installed, logging (not skipping) otherwise so
// that the rest of the test still runs.
func wasmValidateOrLog(t *testing.T, b []byte) {
	t.Helper()
	if !haveWasmValidate() {
		t.Log("wasm-validate not on PATH: skipping wabt validation")
		return
	}
	wasmValidate(t, b)
}
