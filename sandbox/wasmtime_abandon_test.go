//go:build wasmtime && cgo

package sandbox

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// slowCompileWat is a valid module of funcs functions of ops arithmetic steps each: Cranelift
// takes a while over it (12 x 400: ~0.5 s on the 2-core development box) while every structural
// limit holds.
func slowCompileWat(funcs, ops int) string {
	var b strings.Builder
	b.WriteString("(module (memory 1) (func (export \"_start\"))\n")
	for f := range funcs {
		fmt.Fprintf(&b, "(func (export \"f%d\") (param i32) (result i32) (local i32)\n", f)
		for i := range ops {
			fmt.Fprintf(&b, "local.get 0 i32.const %d i32.mul local.get 1 i32.xor local.set 1 local.get 1 i32.const %d i32.rotl local.set 0\n", i*7+f, i%31)
		}
		b.WriteString("local.get 0)\n")
	}
	b.WriteString(")")
	return b.String()
}

// TestWasmtimeAbandonedCompile: a load whose context ends during a compilation returns at once
// with ErrTimeout while the compilation finishes in the background, counted; the compilations
// running at once, abandoned ones included, are bounded (a load finding no slot waits only as
// long as its context); Close waits for the abandoned one, and nothing is left running after.
// The wasmtime counterpart of TestAbandonedLoadThenEngineShutdown.
func TestWasmtimeAbandonedCompile(t *testing.T) {
	slow := wat(t, slowCompileWat(12, 400))
	tiny := wat(t, `(module (memory 1) (func (export "_start")))`)
	before := runtime.NumGoroutine()
	e, err := newWasmtime(context.Background(), newWasmtimeConfig())
	if err != nil {
		t.Fatal(err)
	}
	e.compileSlots = make(chan struct{}, 1)

	const wait = 50 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	start := time.Now()
	_, err = e.Load(ctx, slow)
	took := time.Since(start)
	cancel()
	if err == nil {
		t.Fatalf("a %d-byte module compiled within %v: make slowCompileWat larger for this machine", len(slow), wait)
	}
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("load err = %v, want ErrTimeout", err)
	}
	if n := e.abandoned.Load(); n != 1 {
		t.Fatalf("%d abandoned compilations counted after the load gave up, want 1 (still compiling)", n)
	}
	if took > wait+500*time.Millisecond {
		t.Errorf("load returned %v after its %v deadline, want at once", took-wait, wait)
	}

	// The one slot is held by the abandoned compilation: another load gives up at its own
	// deadline without starting a second one.
	ctx, cancel = context.WithTimeout(context.Background(), wait)
	start = time.Now()
	_, err = e.Load(ctx, tiny)
	cancel()
	if !errors.Is(err, ErrTimeout) || time.Since(start) > wait+500*time.Millisecond {
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
	if _, err := e.Load(context.Background(), tiny); !errors.Is(err, errWasmtimeClosed) {
		t.Fatalf("load after Close: %v", err)
	}
	for deadline := time.Now().Add(2 * time.Second); runtime.NumGoroutine() > before; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after Close, %d before", runtime.NumGoroutine(), before)
		}
	}
}
