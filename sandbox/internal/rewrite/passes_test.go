package rewrite

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/sgde-project/sgde/internal/wasmbin"
	"github.com/sgde-project/sgde/wasm/abi"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// fn is a function of a hand-assembled test module; body excludes the final end.
type fn struct {
	export          string
	params, results []wasmbin.ValType
	locals          []wasmbin.Local
	body            []byte
}

const (
	i32 = wasmbin.I32
	i64 = wasmbin.I64
)

// assemble builds a module with one memory (when pages > 0) and the given functions.
func assemble(t testing.TB, pages uint32, fns ...fn) []byte {
	t.Helper()
	m := &wasmbin.Module{}
	if pages > 0 {
		m.Memories = []wasmbin.Limits{{Min: pages, Max: 100, HasMax: true}}
		m.Exports = append(m.Exports, wasmbin.Export{Name: "memory", Kind: wasmbin.KindMemory})
	}
	for i, f := range fns {
		ti := m.TypeIndex(wasmbin.FuncType{Params: f.params, Results: f.results})
		m.Funcs = append(m.Funcs, ti)
		m.Code = append(m.Code, wasmbin.Func{Locals: f.locals, Body: append(append([]byte(nil), f.body...), 0x0b)})
		if f.export != "" {
			m.Exports = append(m.Exports, wasmbin.Export{Name: f.export, Kind: wasmbin.KindFunc, Index: uint32(i)})
		}
	}
	b, err := wasmbin.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Hand-assembled bodies. Costs in comments count the non-structural instructions executed.
var (
	// count(n): loops n times. The loop body is one charged run of 12 (br_if does not end a run:
	// the exit pays for the whole body), entered n+1 times, plus 1 after: 12n+13.
	countBody = []byte{
		0x02, 0x40, 0x03, 0x40,
		0x20, 0, 0x45, 0x0d, 1, // local.get 0; i32.eqz; br_if 1
		0x20, 0, 0x41, 1, 0x6b, 0x21, 0, // n--
		0x20, 1, 0x41, 1, 0x6a, 0x21, 1, // acc++
		0x0c, 0, // br 0
		0x0b, 0x0b,
		0x20, 1,
	}
	// pair(x): multi-value result through return inside a block and br to the function label.
	pairBody = []byte{
		0x02, 0x40,
		0x20, 0, 0x45, 0x04, 0x40, // if x == 0
		0x41, 7, 0x42, 8, 0x0f, // return (7, 8)
		0x0b,
		0x20, 0, 0x41, 1, 0x46, 0x04, 0x40, // if x == 1
		0x41, 9, 0x42, 10, 0x0c, 2, // br 2 (the function label) with (9, 10)
		0x0b,
		0x0b,
		0x20, 0, 0x42, 11,
	}
	// fill(n): memory.fill(0, 1, n); 4 instructions + n>>6.
	fillBody = []byte{0x41, 0, 0x41, 1, 0x20, 0, 0xfc, 11, 0}
	// grow(n): memory.grow(n); 2 instructions + 1024n.
	growBody = []byte{0x20, 0, 0x40, 0}
	// rec(): unbounded recursion without a loop.
	recBody = []byte{0x10, 4}
	// spin(): loop forever.
	spinBody = []byte{0x03, 0x40, 0x0c, 0, 0x0b}
	// skiprec(): a br_if skips the loop before the self-call (function 8), so the loop header
	// check is not enough: the entry must be checked.
	skiprecBody = []byte{0x02, 0x40, 0x41, 1, 0x0d, 0, 0x03, 0x40, 0x0b, 0x0b, 0x10, 8}
	// trap(): unreachable, as Go's runtime emits it.
	trapBody = []byte{0x00}
	// table(n): br_table to a block (n == 0: 5+6) or the function label (5).
	tableBody = []byte{0x02, 0x7f, 0x41, 5, 0x20, 0, 0x0e, 1, 0, 1, 0x0b, 0x41, 6, 0x6a}
)

func testModule(t testing.TB) []byte {
	return assemble(t, 1,
		fn{export: "count", params: []wasmbin.ValType{i32}, results: []wasmbin.ValType{i32}, locals: []wasmbin.Local{{Count: 1, Type: i32}}, body: countBody},
		fn{export: "pair", params: []wasmbin.ValType{i32}, results: []wasmbin.ValType{i32, i64}, body: pairBody},
		fn{export: "fill", params: []wasmbin.ValType{i32}, body: fillBody},
		fn{export: "grow", params: []wasmbin.ValType{i32}, results: []wasmbin.ValType{i32}, body: growBody},
		fn{export: "rec", body: recBody},
		fn{export: "spin", body: spinBody},
		fn{export: "trap", body: trapBody},
		fn{export: "table", params: []wasmbin.ValType{i32}, results: []wasmbin.ValType{i32}, body: tableBody},
		fn{export: "skiprec", body: skiprecBody},
	)
}

type callResult struct {
	results []uint64
	err     error
	fuel    int64
	depth   int32
}

func callExport(t *testing.T, wasm []byte, fuel int64, name string, args ...uint64) callResult {
	t.Helper()
	ctx := context.Background()
	r, c := newGuestRuntime(ctx, t, wasm, nil)
	mod, err := r.InstantiateModule(ctx, c, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		t.Fatal(err)
	}
	g, _ := mod.ExportedGlobal(abi.FuelGlobal).(api.MutableGlobal)
	if g != nil {
		g.Set(uint64(fuel))
	}
	res, err := mod.ExportedFunction(name).Call(ctx, args...)
	out := callResult{results: res, err: err}
	if g != nil {
		out.fuel = fuel - int64(g.Get())
	}
	if d := mod.ExportedGlobal(abi.DepthGlobal); d != nil {
		out.depth = int32(d.Get())
	}
	return out
}

func TestMeterExactCounts(t *testing.T) {
	orig := testModule(t)
	metered, err := Meter(orig, 0)
	if err != nil {
		t.Fatal(err)
	}
	wasmValidateOrLog(t, metered)
	for _, tc := range []struct {
		name string
		arg  uint64
		want int64
	}{
		{"count", 0, 13}, {"count", 1, 25}, {"count", 100, 1213},
		{"fill", 0, 4}, {"fill", 64, 5}, {"fill", 6400, 104},
		{"grow", 0, 2}, {"grow", 3, 2 + 3*CostPerPage},
		{"table", 0, 5}, {"table", 1, 3},
	} {
		got := callExport(t, metered, 1<<40, tc.name, tc.arg)
		if got.err != nil || got.fuel != tc.want {
			t.Errorf("%s(%d): fuel %d err %v, want %d", tc.name, tc.arg, got.fuel, got.err, tc.want)
		}
		want := callExport(t, orig, 0, tc.name, tc.arg)
		if len(want.results) != len(got.results) || (len(want.results) > 0 && want.results[0] != got.results[0]) {
			t.Errorf("%s(%d): results %v, want %v", tc.name, tc.arg, got.results, want.results)
		}
	}
}

func TestMeterTrapsAreClassified(t *testing.T) {
	metered, err := NewPipeline().WithMeter(0).Rewrite(testModule(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		fuel  int64
		arg   []uint64
		isOOF bool
	}{
		{"spin", 1000, nil, true},
		{"rec", 1000, nil, true},     // no loop: the entry check stops it
		{"skiprec", 1000, nil, true}, // a loop it can branch around: so does this one
		{"count", 100, []uint64{1000}, true},
		{"grow", 1000, []uint64{1}, true}, // charged before it runs
		{"fill", 10, []uint64{65536}, true},
		{"trap", 1000, nil, false},      // the guest's own unreachable
		{"count", 0, []uint64{1}, true}, // a check comes before each run of the loop, so one more round stops
	} {
		got := callExport(t, metered, tc.fuel, tc.name, tc.arg...)
		if got.err == nil || errors.Is(got.err, ErrOutOfFuel) != tc.isOOF {
			t.Errorf("%s: err %v, want out of fuel %v", tc.name, got.err, tc.isOOF)
		}
		if tc.isOOF && got.fuel <= tc.fuel {
			t.Errorf("%s: fuel used %d not above budget %d", tc.name, got.fuel, tc.fuel)
		}
	}
}

func TestStackLimitMultiValueAndBranches(t *testing.T) {
	orig := testModule(t)
	limited, err := StackLimit(orig, 100)
	if err != nil {
		t.Fatal(err)
	}
	wasmValidateOrLog(t, limited)
	for _, tc := range []struct {
		name string
		arg  uint64
	}{{"pair", 0}, {"pair", 1}, {"pair", 2}, {"table", 0}, {"table", 1}, {"count", 3}} {
		want := callExport(t, orig, 0, tc.name, tc.arg)
		got := callExport(t, limited, 0, tc.name, tc.arg)
		if got.err != nil || got.depth != 0 || len(got.results) != len(want.results) {
			t.Fatalf("%s(%d): %v depth %d results %v, want %v", tc.name, tc.arg, got.err, got.depth, got.results, want.results)
		}
		for i := range want.results {
			if got.results[i] != want.results[i] {
				t.Fatalf("%s(%d): results %v, want %v", tc.name, tc.arg, got.results, want.results)
			}
		}
	}
	got := callExport(t, limited, 0, "rec")
	if !errors.Is(got.err, ErrStackOverflow) || got.depth != 101 {
		t.Fatalf("rec: %v at depth %d, want stack overflow at 101", got.err, got.depth)
	}
}

func TestRewriteRejectsInvalidModules(t *testing.T) {
	for _, tc := range []struct {
		name string
		wasm []byte
	}{
		{"malformed", []byte("\x00asm\x01\x00\x00\x00\x01")},
		// (func (call 1)) with one function: adding imports would make index 1 exist.
		{"unknown function", assemble(t, 0, fn{body: []byte{0x10, 1}})},
		// (func (drop (global.get 0))) without globals: Meter adds global 0.
		{"unknown global", assemble(t, 0, fn{body: []byte{0x23, 0, 0x1a}})},
		// (func (br 1)): StackLimit's wrapper block would add label 1.
		{"unknown label", assemble(t, 0, fn{body: []byte{0x0c, 1}})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewPipeline().WithMeter(0).WithStackLimit(10).Rewrite(tc.wasm)
			if !errors.Is(err, ErrInvalidModule) {
				t.Fatalf("err %v, want ErrInvalidModule", err)
			}
		})
	}
}

func TestRewriteTwiceIsRejected(t *testing.T) {
	once, err := Meter(testModule(t), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Meter(once, 0); !errors.Is(err, ErrAlreadyInstrumented) {
		t.Fatalf("err %v, want ErrAlreadyInstrumented", err)
	}
}

// TestMeterSlicedFuel: a host whose out_of_fuel returns after adding fuel (the budget handed out
// in slices) gets the same results and the same total fuel as one budget given at once, for
// every slice size, including slices smaller than one charge; and when the slices run out,
// the call stops with ErrOutOfFuel having used more than the whole budget.
func TestMeterSlicedFuel(t *testing.T) {
	metered, err := NewPipeline().WithMeter(0).Rewrite(testModule(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		arg  uint64
	}{
		{"count", 1000}, {"fill", 6400}, {"grow", 2}, {"table", 0}, {"pair", 1},
	} {
		whole := callExport(t, metered, 1<<40, tc.name, tc.arg)
		if whole.err != nil {
			t.Fatalf("%s: %v", tc.name, whole.err)
		}
		for _, slice := range []int64{1, 7, 100, 1 << 20} {
			var g api.MutableGlobal
			var given, refills int64
			budget := int64(1 << 40)
			refill := func() {
				refills++
				f := int64(g.Get())
				for f < 0 && given < budget {
					give := min(slice, budget-given)
					f, given = f+give, given+give
				}
				if f < 0 {
					panic(ErrOutOfFuel)
				}
				g.Set(uint64(f))
			}
			r := newRuntime(ctx, t, nil)
			_, err := r.NewHostModuleBuilder(abi.HostModule).
				NewFunctionBuilder().WithFunc(refill).Export(abi.OutOfFuel).
				NewFunctionBuilder().WithFunc(func() { panic(ErrStackOverflow) }).Export(abi.StackOverflow).
				Instantiate(ctx)
			if err != nil {
				t.Fatal(err)
			}
			mod, err := r.Instantiate(ctx, metered)
			if err != nil {
				t.Fatal(err)
			}
			g = mod.ExportedGlobal(abi.FuelGlobal).(api.MutableGlobal)
			g.Set(0)
			res, err := mod.ExportedFunction(tc.name).Call(ctx, tc.arg)
			if err != nil {
				t.Fatalf("%s slice %d: %v", tc.name, slice, err)
			}
			if used := given - int64(g.Get()); used != whole.fuel || !slices.Equal(res, whole.results) {
				t.Errorf("%s slice %d: results %v fuel %d, want %v fuel %d", tc.name, slice, res, used, whole.results, whole.fuel)
			}
			if slice == 1 && tc.name == "count" && refills < 1000 {
				t.Errorf("%s slice 1: %d refills, want several", tc.name, refills)
			}
			// A budget of half what the call needs runs out (checks come at loop headers and
			// before sized operations, so a call can end a little over its budget, not by half).
			g.Set(0)
			given, budget = 0, whole.fuel/2
			_, err = mod.ExportedFunction(tc.name).Call(ctx, tc.arg)
			if whole.fuel > 100 && !errors.Is(err, ErrOutOfFuel) {
				t.Errorf("%s slice %d, budget %d: %v, want out of fuel", tc.name, slice, budget, err)
			}
			r.Close(ctx)
		}
	}
}
