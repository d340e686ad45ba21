//go:build wasmtime && cgo

package sandbox

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"testing"

	"github.com/bytecodealliance/wasmtime-go/v39"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// The WASI differential: every function of wasi_snapshot_preview1 is called directly, with
// valid and hostile arguments, on wazero's own implementation (configured as the wazero engine
// configures it: nothing but captured stdout and stderr) and on ours. After every call the
// errno and the whole of memory must be equal; after every sequence, stdout and stderr.

// wasiProbeWAT imports every WASI function and exports a wrapper per function, so the host can
// call them as the guest would, plus the memory.
func wasiProbeWAT() string {
	var b strings.Builder
	b.WriteString("(module\n")
	for i, f := range wasiFuncs {
		fmt.Fprintf(&b, "  (import %q %q (func $f%d %s (result i32)))\n", wasiModuleName, f.name, i, watParams(wtKinds(f.params)))
	}
	b.WriteString("  (memory (export \"memory\") 1)\n")
	for i, f := range wasiFuncs {
		fmt.Fprintf(&b, "  (func (export \"call_%s\") %s (result i32)", f.name, watParams(wtKinds(f.params)))
		for j := range f.params {
			fmt.Fprintf(&b, " local.get %d", j)
		}
		fmt.Fprintf(&b, " call $f%d)\n", i)
	}
	b.WriteString(")\n")
	return b.String()
}

func watParams(kinds []wasmtime.ValKind) string {
	if len(kinds) == 0 {
		return ""
	}
	var parts []string
	for _, k := range kinds {
		if k == wtI64 {
			parts = append(parts, "i64")
		} else {
			parts = append(parts, "i32")
		}
	}
	return "(param " + strings.Join(parts, " ") + ")"
}

var (
	probeOnce sync.Once
	probeWasm []byte
	probeErr  error
)

func wasiProbe(tb testing.TB) []byte {
	tb.Helper()
	probeOnce.Do(func() { probeWasm, probeErr = wasmtime.Wat2Wasm(wasiProbeWAT()) })
	if probeErr != nil {
		tb.Fatal(probeErr)
	}
	return probeWasm
}

// Memory layout the argument pools point into.
const (
	probeIovecs = 0x100  // three iovecs: {0x1000,16} {0x2000,0} {0x3000,5}
	probePaths  = 0x200  // "a/b", then "/etc/passwd" at 0x300, "../x" at 0x380
	probeSubs   = 0x400  // poll_oneoff subscriptions, 48 bytes each
	probeData   = 0x1000 // "hello, sandbox!\n"
)

func probeMemory() []byte {
	m := make([]byte, 65536)
	le := binary.LittleEndian
	for i, v := range [][2]uint32{{0x1000, 16}, {0x2000, 0}, {0x3000, 5}} {
		le.PutUint32(m[probeIovecs+8*i:], v[0])
		le.PutUint32(m[probeIovecs+8*i+4:], v[1])
	}
	copy(m[0x200:], "a/b")
	copy(m[0x300:], "/etc/passwd")
	copy(m[0x380:], "../x")
	copy(m[probeData:], "hello, sandbox!\n")
	copy(m[0x3000:], "12345")
	subs := []struct {
		tag   byte
		arg   uint32 // clock id or fd
		flags uint16
	}{
		{0, 1, 0},  // relative clock
		{1, 0, 0},  // read stdin
		{2, 1, 0},  // write stdout
		{0, 0, 1},  // absolute clock: ENOTSUP
		{1, 7, 0},  // read a closed fd
		{9, 0, 0},  // unknown tag: EINVAL
		{2, 12, 0}, // write a closed fd
	}
	for i, s := range subs {
		o := probeSubs + 48*i
		le.PutUint64(m[o:], uint64(0xabc0+i)) // userdata
		m[o+8] = s.tag
		le.PutUint32(m[o+16:], s.arg)
		le.PutUint64(m[o+24:], 1000) // timeout
		le.PutUint16(m[o+40:], s.flags)
	}
	return m
}

var (
	probeI32 = []uint32{0, 1, 2, 3, 4, 5, 7, 8, 16, 23, 24, 64, 0x5555556, 0xFFFFFFFF, 0x80000000,
		probeIovecs, probeIovecs + 8, probeIovecs + 16, 0x200, 0x300, 0x380, probeSubs, probeSubs + 48,
		probeSubs + 96, probeSubs + 144, probeData, 0xFFF8, 0xFFFC, 0xFFFF, 0x10000, 0x20000}
	probeI64 = []uint64{0, 1, 5, 1 << 40, 1<<63 - 1, 1 << 63, 0xFFFFFFFFFFFFFFFF}
)

// probeCall is one call of a sequence: which function, with what arguments.
type probeCall struct {
	fn   int
	args []uint64
}

func (c probeCall) String() string {
	return fmt.Sprintf("%s%v", wasiFuncs[c.fn].name, c.args)
}

// probeSequence draws calls from r. Small fds are favoured so that open descriptors are hit.
func probeSequence(r *rand.Rand, n int) []probeCall {
	calls := make([]probeCall, n)
	for i := range calls {
		fn := r.Intn(len(wasiFuncs))
		var args []uint64
		for j, k := range wasiFuncs[fn].params {
			switch {
			case k == api.ValueTypeI64:
				args = append(args, probeI64[r.Intn(len(probeI64))])
			case j == 0 && r.Intn(2) == 0:
				args = append(args, uint64(r.Intn(4))) // an fd, usually
			default:
				args = append(args, uint64(probeI32[r.Intn(len(probeI32))]))
			}
		}
		calls[i] = probeCall{fn: fn, args: args}
	}
	return calls
}

// wasiSides holds one instance of the probe on each side.
type wasiSides struct {
	wzMod            api.Module
	wzStdout, wzErr  *cappedWriter
	wzRT             wazero.Runtime
	wtStore          *wasmtime.Store
	wtInst           *wasmtime.Instance
	wtState          *wtCallState
	ctx              context.Context
	calls            []string
	wasmtimeEngine   *wasmtimeEngine
	wazeroCompiled   wazero.CompiledModule
	wasmtimeCompiled *wasmtime.Module
}

func newWASISides(t *testing.T, wt *wasmtimeEngine) *wasiSides {
	t.Helper()
	ctx := context.Background()
	wasm := wasiProbe(t)
	s := &wasiSides{ctx: ctx, wasmtimeEngine: wt}
	s.wzRT = wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	t.Cleanup(func() { s.wzRT.Close(ctx) })
	wasi_snapshot_preview1.MustInstantiate(ctx, s.wzRT)
	var err error
	if s.wazeroCompiled, err = s.wzRT.CompileModule(ctx, wasm); err != nil {
		t.Fatal(err)
	}
	s.wzStdout, s.wzErr = &cappedWriter{max: 64}, &cappedWriter{max: 64}
	cfg := wazero.NewModuleConfig().WithName("").WithStdout(s.wzStdout).WithStderr(s.wzErr).WithStartFunctions()
	if s.wzMod, err = s.wzRT.InstantiateModule(ctx, s.wazeroCompiled, cfg); err != nil {
		t.Fatal(err)
	}
	if s.wasmtimeCompiled, err = wasmtime.NewModule(wt.engine, wasm); err != nil {
		t.Fatal(err)
	}
	s.wtState = &wtCallState{wasi: newWASIState(64)}
	s.wtStore = wasmtime.NewStoreWithData(wt.engine, s.wtState)
	t.Cleanup(s.wtStore.Close)
	if err := s.wtStore.SetFuel(1 << 40); err != nil {
		t.Fatal(err)
	}
	s.wtStore.SetEpochDeadline(1 << 40)
	if s.wtInst, err = wt.linker.Instantiate(s.wtStore, s.wasmtimeCompiled); err != nil {
		t.Fatal(err)
	}
	init := probeMemory()
	s.wzMod.Memory().Write(0, init)
	copy(s.wasiMemory(), init)
	return s
}

func (s *wasiSides) wasiMemory() []byte {
	return s.wtInst.GetExport(s.wtStore, "memory").Memory().UnsafeData(s.wtStore)
}

// call runs c on both sides and reports the first difference.
func (s *wasiSides) call(c probeCall) error {
	s.calls = append(s.calls, c.String())
	name := "call_" + wasiFuncs[c.fn].name
	wzRes, wzErr := s.wzMod.ExportedFunction(name).Call(s.ctx, c.args...)
	args := make([]any, len(c.args))
	for i, a := range c.args {
		if wasiFuncs[c.fn].params[i] == api.ValueTypeI64 {
			args[i] = int64(a)
		} else {
			args[i] = int32(uint32(a))
		}
	}
	wtRes, wtErr := s.wtInst.GetFunc(s.wtStore, name).Call(s.wtStore, args...)
	s.wtState.hostPanic = ""
	switch {
	case (wzErr != nil) != (wtErr != nil):
		return fmt.Errorf("%s: wazero error %v, wasmtime error %v", c, wzErr, wtErr)
	case wzErr == nil && uint32(wzRes[0]) != uint32(wtRes.(int32)):
		return fmt.Errorf("%s: errno wazero %d, wasmtime %d", c, wzRes[0], wtRes)
	}
	wzMem, _ := s.wzMod.Memory().Read(0, 65536)
	if wtMem := s.wasiMemory(); !bytes.Equal(wzMem, wtMem) {
		for i := range wzMem {
			if wzMem[i] != wtMem[i] {
				return fmt.Errorf("%s: memory differs from offset %#x: wazero % x, wasmtime % x", c, i, wzMem[i:min(i+16, len(wzMem))], wtMem[i:min(i+16, len(wtMem))])
			}
		}
	}
	return nil
}

func (s *wasiSides) compareOutput() error {
	if a, b := s.wzStdout.Bytes(), s.wtState.wasi.stdout.Bytes(); !bytes.Equal(a, b) {
		return fmt.Errorf("stdout: wazero %q, wasmtime %q", a, b)
	}
	if a, b := s.wzErr.Bytes(), s.wtState.wasi.stderr.Bytes(); !bytes.Equal(a, b) {
		return fmt.Errorf("stderr: wazero %q, wasmtime %q", a, b)
	}
	return nil
}

var (
	testWTOnce sync.Once
	testWT     *wasmtimeEngine
	testWTErr  error
)

// testWasmtime is one engine for the white-box tests of this file.
func testWasmtime(tb testing.TB) *wasmtimeEngine {
	tb.Helper()
	testWTOnce.Do(func() { testWT, testWTErr = newWasmtime(context.Background(), newWasmtimeConfig()) })
	if testWTErr != nil {
		tb.Fatal(testWTErr)
	}
	return testWT
}

// TestWASIEveryFunction calls each function once with plausible arguments, on a fresh pair of
// instances, so that a broken function is named directly rather than found by the random walk.
func TestWASIEveryFunction(t *testing.T) {
	wt := testWasmtime(t)
	for fn, f := range wasiFuncs {
		for _, fd := range []uint64{0, 1, 2, 3} {
			t.Run(fmt.Sprintf("%s/fd%d", f.name, fd), func(t *testing.T) {
				s := newWASISides(t, wt)
				args := make([]uint64, len(f.params))
				plausible := []uint64{fd, probeIovecs, 3, 0x800, 24, 0x900, 0xa00, 0xb00, 0xc00}
				for i := range args {
					args[i] = plausible[i%len(plausible)]
					if f.params[i] == api.ValueTypeI64 {
						args[i] = 0
					}
				}
				if err := s.call(probeCall{fn: fn, args: args}); err != nil {
					t.Fatal(err)
				}
				if err := s.compareOutput(); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// TestWASIRandomSequences runs seeded random call sequences; state (closed descriptors, the
// clocks, the random stream) carries from call to call within a sequence.
func TestWASIRandomSequences(t *testing.T) {
	wt := testWasmtime(t)
	sequences, length := 40, 200
	if testing.Short() {
		sequences = 5
	}
	for seed := int64(1); seed <= int64(sequences); seed++ {
		s := newWASISides(t, wt)
		for _, c := range probeSequence(rand.New(rand.NewSource(seed)), length) {
			if err := s.call(c); err != nil {
				t.Fatalf("seed %d after %d calls: %v", seed, len(s.calls), err)
			}
		}
		if err := s.compareOutput(); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
	}
}

// FuzzWASI drives the same comparison from fuzzer-chosen bytes: each call takes one byte for the
// function and one per argument, indexing the argument pools.
func FuzzWASI(f *testing.F) {
	f.Add([]byte{26, 1, 0, 1, 16})           // fd_write to stdout
	f.Add([]byte{37, 21, 22, 2, 23, 37, 21}) // poll_oneoff
	f.Add([]byte{8, 1, 26, 1, 0, 1, 16})     // fd_close(1), then fd_write
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newWASISides(t, testWasmtime(t))
		for len(data) > 0 {
			fn := int(data[0]) % len(wasiFuncs)
			data = data[1:]
			var args []uint64
			for _, k := range wasiFuncs[fn].params {
				var b byte
				if len(data) > 0 {
					b, data = data[0], data[1:]
				}
				if k == api.ValueTypeI64 {
					args = append(args, probeI64[int(b)%len(probeI64)])
				} else {
					args = append(args, uint64(probeI32[int(b)%len(probeI32)]))
				}
			}
			if err := s.call(probeCall{fn: fn, args: args}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.compareOutput(); err != nil {
			t.Fatal(err)
		}
	})
}
