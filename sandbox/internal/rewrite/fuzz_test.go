package rewrite

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/sgde-project/sgde/internal/wasmbin"
	"github.com/sgde-project/sgde/wasm/abi"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// progGen turns fuzz bytes into a valid function body of type (i32, i32) -> i32: nested
// expressions, if/else, blocks left by br_if, bounded loops, calls, loads, stores and
// memory.fill. Loops count down a dedicated local, so every program terminates.
type progGen struct {
	data  []byte
	pos   int
	out   []byte
	loops int // open loops; loop k counts down local 4+k
}

const genLocals = 4 + 3 // 4 scratch locals (0,1 are the params), 3 loop counters

func (g *progGen) next() byte {
	if g.pos >= len(g.data) {
		return 0
	}
	b := g.data[g.pos]
	g.pos++
	return b
}

func (g *progGen) emit(b ...byte) { g.out = append(g.out, b...) }

// expr emits code that pushes one i32.
func (g *progGen) expr(depth int) {
	if depth > 5 || g.pos >= len(g.data) {
		if g.next()%2 == 0 {
			g.emit(0x20, g.next()%4)
		} else {
			g.emit(0x41)
			g.out = wasmbin.AppendSLEB(g.out, int64(int8(g.next())))
		}
		return
	}
	switch g.next() % 11 {
	case 0:
		g.emit(0x41)
		g.out = wasmbin.AppendSLEB(g.out, int64(int32(uint32(g.next())<<uint(g.next()%24))))
	case 1:
		g.emit(0x20, g.next()%4)
	case 2:
		ops := []byte{0x6a, 0x6b, 0x6c, 0x73, 0x71, 0x72, 0x74, 0x76, 0x77, 0x6e, 0x6f, 0x70, 0x6d}
		g.expr(depth + 1)
		g.expr(depth + 1)
		g.emit(ops[int(g.next())%len(ops)]) // includes div/rem, which may trap
	case 3:
		g.expr(depth + 1)
		g.emit(0x22, g.next()%4) // local.tee
	case 4:
		g.expr(depth + 1)
		g.emit(0x04, 0x7f) // if (result i32)
		g.expr(depth + 1)
		g.emit(0x05)
		g.expr(depth + 1)
		g.emit(0x0b)
	case 5:
		g.emit(0x02, 0x7f) // block (result i32)
		g.expr(depth + 1)
		g.expr(depth + 1)
		g.emit(0x0d, 0, 0x1a) // br_if 0; drop
		g.expr(depth + 1)
		g.emit(0x0b)
	case 6:
		if g.loops >= 3 {
			g.expr(depth + 1)
			return
		}
		c := byte(4 + g.loops)
		g.emit(0x41, g.next()%8+1, 0x21, c) // counter = 1..8
		g.emit(0x03, 0x40)                  // loop
		g.loops++
		g.expr(depth + 1)
		g.emit(0x21, g.next()%4)
		g.loops--
		g.emit(0x20, c, 0x41, 1, 0x6b, 0x22, c, 0x0d, 0) // br_if 0 while --counter != 0
		g.emit(0x0b)
		g.expr(depth + 1)
	case 7:
		g.expr(depth + 1)
		g.emit(0x10, 1) // call the helper
	case 8:
		g.expr(depth + 1)
		g.expr(depth + 1)
		g.expr(depth + 1)
		g.emit(0x1b) // select
	case 9:
		g.expr(depth + 1)
		g.emit(0x41, 0xff, 0x01, 0x71, 0x28, 2, 0) // i32.load (addr & 255)
	case 10:
		g.expr(depth + 1)
		g.emit(0x41, 0xff, 0x01, 0x71) // addr & 255
		g.expr(depth + 1)
		if g.next()%2 == 0 {
			g.emit(0x36, 2, 0) // i32.store
		} else {
			g.emit(0x41, g.next()) // i32.const n (0..127 or negative: traps out of bounds)
			g.emit(0xfc, 11, 0)    // memory.fill
		}
		g.expr(depth + 1)
	}
}

func genModule(tb testing.TB, data []byte) []byte {
	g := &progGen{data: data}
	g.expr(0)
	return assemble(tb, 1,
		fn{export: "f", params: []wasmbin.ValType{i32, i32}, results: []wasmbin.ValType{i32},
			locals: []wasmbin.Local{{Count: genLocals - 2, Type: i32}}, body: g.out},
		// helper(x) = x*3+1, and recursion through f would need a loop-free caller: keep simple.
		fn{params: []wasmbin.ValType{i32}, results: []wasmbin.ValType{i32}, body: []byte{0x20, 0, 0x41, 3, 0x6c, 0x41, 1, 0x6a}},
	)
}

func runF(ctx context.Context, r wazero.Runtime, wasm []byte, fuel int64, a, b uint32) (string, int64, error) {
	c, err := r.CompileModule(ctx, wasm)
	if err != nil {
		return "", 0, err
	}
	defer c.Close(ctx)
	mod, err := r.InstantiateModule(ctx, c, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		return "", 0, err
	}
	defer mod.Close(ctx)
	g, _ := mod.ExportedGlobal(abi.FuelGlobal).(api.MutableGlobal)
	if g != nil {
		g.Set(uint64(fuel))
	}
	res, err := mod.ExportedFunction("f").Call(ctx, uint64(a), uint64(b))
	used := int64(0)
	if g != nil {
		used = fuel - int64(g.Get())
	}
	if err != nil {
		if errors.Is(err, ErrOutOfFuel) {
			return "out of fuel", used, nil
		}
		return "trap: " + trapClass(err), used, nil
	}
	return fmt.Sprint(res), used, nil
}

// FuzzMeterEquivalence: a module generated from fuzz bytes computes the same result (or the same
// trap) before and after every pass, metering is deterministic, and a budget of exactly the
// reported fuel suffices.
func FuzzMeterEquivalence(f *testing.F) {
	f.Add([]byte{2, 6, 3, 1, 0, 1, 1}, uint32(5), uint32(7))
	f.Add([]byte{6, 5, 2, 3, 1, 1, 2, 1, 1, 0, 3}, uint32(1), uint32(0))
	f.Add([]byte{10, 1, 0, 1, 1, 1, 40, 9, 1, 1}, uint32(3), uint32(9))
	f.Add([]byte{4, 2, 0, 1, 1, 1, 0, 9, 6, 6, 6, 7, 1, 1}, uint32(0), uint32(2))
	f.Add([]byte{2, 0, 1, 2, 10, 1, 1}, uint32(1), uint32(0))
	ctx := context.Background()
	r := newRuntime(ctx, f, nil)
	instantiateHost(ctx, f, r, &hostIO{})
	f.Fuzz(func(t *testing.T, data []byte, a, b uint32) {
		if len(data) > 256 {
			return
		}
		orig := genModule(t, data)
		want, _, err := runF(ctx, r, orig, 0, a, b)
		if err != nil {
			t.Fatalf("generated module does not run: %v\n%x", err, orig)
		}
		all, err := NewPipeline().WithMergeData(DefaultMergeGap).WithMeter(0).WithStackLimit(1000).Rewrite(orig)
		if err != nil {
			t.Fatal(err)
		}
		const budget = 1 << 40
		got, used, err := runF(ctx, r, all, budget, a, b)
		if err != nil || got != want {
			t.Fatalf("metered: %q (%v), want %q\n%x", got, err, want, orig)
		}
		again, used2, _ := runF(ctx, r, all, budget, a, b)
		if again != got || used2 != used || used <= 0 {
			t.Fatalf("nondeterministic fuel: %d then %d", used, used2)
		}
		if exact, _, _ := runF(ctx, r, all, used, a, b); exact != want {
			t.Fatalf("budget of exactly the fuel used (%d): %q, want %q", used, exact, want)
		}
	})
}

// FuzzRewrite: any input either is rejected with an error or rewrites to a module that decodes
// and passes the index check; the rewriter never panics.
func FuzzRewrite(f *testing.F) {
	f.Add(testModule(f))
	f.Add(genModule(f, []byte{6, 5, 2, 3, 1, 1, 2, 1, 1, 0, 3}))
	f.Add(spectestModule(f))
	p := NewPipeline().WithMergeData(DefaultMergeGap).WithMeter(0).WithStackLimit(100)
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := p.Rewrite(in)
		if err != nil {
			return
		}
		m, err := wasmbin.Decode(out)
		if err != nil {
			t.Fatalf("rewritten module does not decode: %v", err)
		}
		if err := m.CheckIndices(); err != nil {
			t.Fatalf("rewritten module has a bad index: %v", err)
		}
	})
}
