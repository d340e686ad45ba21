//go:build wasmtime && cgo

package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sgde-project/sgde/sandbox/internal/rewrite"
)

// wasiLoopWAT is a module that makes iters WASI calls (iters -1: about four billion, a loop
// that only a limit ends), each call being call with the length given, then delivers an empty
// output. The same shape serves the hostile loop, the costly finite loop and its length-0
// control, so that their guest code costs the same fuel and any difference is host work.
func wasiLoopWAT(imp, call string, iters int32) string {
	return fmt.Sprintf(`(module
	  (import "wasi_snapshot_preview1" %s)
	  (import "sgde" "output_write" (func $out (param i32 i32)))
	  (memory (export "memory") 18)
	  (data (i32.const 0) "{\"output\":{}}")
	  (func (export "_start") (local $i i32)
	    (block $done (loop $more
	      (br_if $done (i32.eq (local.get $i) (i32.const %d)))
	      (drop %s)
	      (local.set $i (i32.add (local.get $i) (i32.const 1)))
	      (br $more)))
	    (call $out (i32.const 0) (i32.const 13))))`, imp, iters, call)
}

// readPeakRSS is VmHWM of this process in bytes, after resetting it when reset is set
// (/proc/self/clear_refs, value 5); ok is false where /proc does not offer it.
func readPeakRSS(reset bool) (rss uint64, ok bool) {
	if reset {
		if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
			return 0, false
		}
	}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, found := strings.CutPrefix(l, "VmHWM:"); found {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}

// TestWasmtimeWASIChargesRewriteFuel: on a module metered by sandbox/internal/rewrite, the
// WASI host work of a call (random bytes made, iovecs walked) is charged to the module's own
// fuel global, as on wazero. A loop of costly WASI calls then ends in ErrFuelExhausted after
// about budget/cost calls (without the charge it would loop until the timeout, its guest code
// costing a few fuel per call); and a finite loop's Usage.Fuel exceeds that of the same loop
// with length 0 by exactly the host work. The host's peak RSS and wall time stay bounded.
func TestWasmtimeWASIChargesRewriteFuel(t *testing.T) {
	e := testWasmtime(t)
	pipeline := rewrite.NewPipeline().WithMeter(0).WithStackLimit(1000)
	const (
		calls   = 4  // in the finite loop and its control
		budget  = 12 // the hostile loop's fuel, in calls' worth of host work
		timeout = time.Second
		rssCap  = 1 << 30
	)
	tests := []struct {
		name string
		imp  string
		// call makes the WASI call with length n (bytes or iovecs).
		call func(n int) string
		n    int
		// work is the fuel the host charges for one call of length n, call price excluded.
		work int64
	}{
		{
			name: "random_get 1MiB",
			imp:  `"random_get" (func $f (param i32 i32) (result i32))`,
			call: func(n int) string { return fmt.Sprintf("(call $f (i32.const 65536) (i32.const %d))", n) },
			n:    1 << 20,
			work: wasiRandomByteFuel << 20,
		},
		{
			// 16 Ki empty iovecs at 64 KiB (zeroed memory: offset 0, length 0) to stdout.
			name: "fd_write 16Ki iovecs",
			imp:  `"fd_write" (func $f (param i32 i32 i32 i32) (result i32))`,
			call: func(n int) string {
				return fmt.Sprintf("(call $f (i32.const 1) (i32.const 65536) (i32.const %d) (i32.const 16))", n)
			},
			n:    16 << 10,
			work: wasiItemFuel << 14,
		},
	}
	run := func(t *testing.T, src string, lim Limits) (Result, time.Duration, error) {
		t.Helper()
		wasm, err := pipeline.Rewrite(wat(t, src))
		if err != nil {
			t.Fatal(err)
		}
		m := loadWT(t, e, wasm)
		start := time.Now()
		res, err := m.Call(context.Background(), []byte(`{}`), lim)
		return res, time.Since(start), err
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, rssOK := readPeakRSS(true)

			// The hostile loop: stopped by its fuel, a budget's worth of calls in, not by time.
			lim := Limits{Fuel: uint64(budget * tt.work), Timeout: timeout}
			res, took, err := run(t, wasiLoopWAT(tt.imp, tt.call(tt.n), -1), lim)
			if !errors.Is(err, ErrFuelExhausted) {
				t.Errorf("hostile loop: %v after %v (fuel used %d), want ErrFuelExhausted: the host work is not charged to the module's fuel", err, took, res.Usage.Fuel)
			}
			// The guest stops at its first check once the fuel is gone: at most one call's work
			// and the loop's own cost past the budget.
			if res.Usage.Fuel < lim.Fuel || res.Usage.Fuel > lim.Fuel+uint64(tt.work)+1000 {
				t.Errorf("hostile loop used %d fuel, want the budget %d plus at most one call's work %d", res.Usage.Fuel, lim.Fuel, tt.work)
			}
			if took >= timeout {
				t.Errorf("hostile loop took %v, not less than the timeout %v", took, timeout)
			}

			// The finite loop against its control: same guest code, length 0.
			ctl, _, err := run(t, wasiLoopWAT(tt.imp, tt.call(0), calls), Limits{Fuel: 1 << 30, Timeout: timeout})
			if err != nil {
				t.Fatalf("control: %v", err)
			}
			got, _, err := run(t, wasiLoopWAT(tt.imp, tt.call(tt.n), calls), Limits{Fuel: 1 << 30, Timeout: timeout})
			if err != nil {
				t.Fatalf("costly loop: %v", err)
			}
			if ctl.Usage.Fuel == 0 || got.Usage.Fuel-ctl.Usage.Fuel != calls*uint64(tt.work) {
				t.Errorf("fuel used %d with length %d, %d with length 0: difference %d, want %d calls' host work %d",
					got.Usage.Fuel, tt.n, ctl.Usage.Fuel, int64(got.Usage.Fuel)-int64(ctl.Usage.Fuel), calls, calls*tt.work)
			}

			if rss, ok := readPeakRSS(false); rssOK && ok && rss > rssCap {
				t.Errorf("peak RSS %d MiB, more than %d MiB", rss>>20, rssCap>>20)
			}
		})
	}
}
