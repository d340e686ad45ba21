package sandbox

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/sgde-project/sgde/plans"
)

// slowCompileModule is a valid module (binary) of funcs functions of ops arithmetic steps each:
// the compiler takes a while over it while every structural limit holds.
func slowCompileModule(funcs, ops int) []byte {
	uleb := func(v uint64) []byte {
		var b []byte
		for {
			c := byte(v & 0x7f)
			v >>= 7
			if v != 0 {
				b = append(b, c|0x80)
				continue
			}
			return append(b, c)
		}
	}
	sleb := func(v int64) []byte {
		var b []byte
		for {
			c := byte(v & 0x7f)
			v >>= 7
			if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
				return append(b, c)
			}
			b = append(b, c|0x80)
		}
	}
	section := func(id byte, body []byte) []byte {
		return append(append([]byte{id}, uleb(uint64(len(body)))...), body...)
	}
	vec := func(n int, items []byte) []byte { return append(uleb(uint64(n)), items...) }
	types := vec(2, []byte{0x60, 0, 0, 0x60, 1, 0x7f, 1, 0x7f})
	fns := []byte{0}
	for range funcs {
		fns = append(fns, 1)
	}
	exports := append(append(uleb(6), "_start"...), 0, 0)
	exports = append(exports, append(uleb(6), "memory"...)...)
	exports = append(exports, 2, 0)
	codes := []byte{2, 0, 0x0b} // _start: no locals, end
	for f := range funcs {
		b := []byte{1, 1, 0x7f} // one i32 local
		for i := range ops {
			b = append(b, 0x20, 0, 0x41)
			b = append(b, sleb(int64(i*7+f))...)
			b = append(b, 0x6c, 0x20, 1, 0x73, 0x21, 1, 0x20, 1, 0x41)
			b = append(b, sleb(int64(i%31))...)
			b = append(b, 0x77, 0x21, 0)
		}
		b = append(b, 0x20, 0, 0x0b)
		codes = append(codes, append(uleb(uint64(len(b))), b...)...)
	}
	mod := []byte("\x00asm\x01\x00\x00\x00")
	mod = append(mod, section(1, types)...)
	mod = append(mod, section(3, vec(funcs+1, fns))...)
	mod = append(mod, section(5, vec(1, []byte{0, 1}))...)
	mod = append(mod, section(7, vec(2, exports))...)
	mod = append(mod, section(10, vec(funcs+1, codes))...)
	return mod
}

// TestAbandonedCompileSlots: on wazero, a load whose context ends during the compilation
// returns at once with ErrTimeout while the compilation finishes in the background, counted; it
// keeps its compile slot until it ends, so with every slot taken another load returns at its own
// deadline without compiling; Close waits for it, and no goroutine is left.
func TestAbandonedCompileSlots(t *testing.T) {
	slow := slowCompileModule(300, 400) // ~0.6 s to compile on the 2-core development box
	before := runtime.NumGoroutine()
	eng, err := New(context.Background(), plans.EngineWazero, WithMetering(MeterWallClock))
	if err != nil {
		t.Fatal(err)
	}
	e := eng.(*wazeroEngine)
	e.compileSlots = make(chan struct{}, 1)

	const wait = 50 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	start := time.Now()
	// compileModule itself, past Load's checks: under -race those alone can outlast the wait.
	_, err = e.compileModule(ctx, slow)
	took := time.Since(start)
	cancel()
	if err == nil {
		t.Fatalf("a %d-byte module compiled within %v: make slowCompileModule larger for this machine", len(slow), wait)
	}
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("load err = %v, want ErrTimeout", err)
	}
	if n := e.abandoned.Load(); n != 1 {
		t.Fatalf("%d abandoned compilations counted after the load gave up, want 1 (still compiling)", n)
	}
	if took > wait+300*time.Millisecond {
		t.Errorf("load returned %v after its %v deadline, want at once", took-wait, wait)
	}
	ctx, cancel = context.WithTimeout(context.Background(), wait)
	start = time.Now()
	_, err = e.compileModule(ctx, slowCompileModule(1, 1))
	cancel()
	if !errors.Is(err, ErrTimeout) || time.Since(start) > wait+300*time.Millisecond {
		t.Fatalf("load while every compile slot is taken: %v after %v, want ErrTimeout at its deadline", err, time.Since(start))
	}
	if n := e.abandoned.Load(); n != 1 {
		t.Fatalf("%d abandoned compilations, want still 1", n)
	}
	if err := e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := e.abandoned.Load(); n != 0 {
		t.Fatalf("Close returned with %d compilations still running", n)
	}
	for deadline := time.Now().Add(2 * time.Second); runtime.NumGoroutine() > before; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after Close, %d before", runtime.NumGoroutine(), before)
		}
	}
}
