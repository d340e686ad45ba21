package sandbox

import (
	"context"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"
)

// instantiateWASI defines sgde's WASI (wasi.go) in rt as the host module
// wasi_snapshot_preview1, in place of wazero's: each function finds its per-call state in the
// call's context (callState.wasi), so that nothing a call does to descriptors, clocks or the
// random source outlives it, even on a pooled instance, and the work it does is charged to the
// call.
func instantiateWASI(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder(wasiModuleName)
	results := []api.ValueType{api.ValueTypeI32}
	for _, f := range wasiFuncs {
		fn, n := f.fn, len(f.params)
		b = b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, m api.Module, stack []uint64) {
			s := stateOf(ctx).wasi
			s.charge(wasiCallFuel)
			stack[0] = uint64(fn(s, wasiMemoryOf(m), stack[:n]))
		}), f.params, results).Export(f.name)
	}
	b = b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, m api.Module, stack []uint64) {
		// As wazero's proc_exit: close the instance with the code and unwind the guest.
		code := api.DecodeU32(stack[0])
		_ = m.CloseWithExitCode(ctx, code)
		panic(sys.NewExitError(code))
	}), []api.ValueType{api.ValueTypeI32}, nil).Export("proc_exit")
	_, err := b.Instantiate(ctx)
	return err
}

// wasiMemoryOf is the calling instance's linear memory as one slice (empty when it has none:
// every access then faults).
func wasiMemoryOf(m api.Module) wasiMemory {
	mem := m.Memory()
	if mem == nil {
		return nil
	}
	b, _ := mem.Read(0, mem.Size())
	return wasiMemory(b)
}

// stopOnDone is the work hook of a call without fuel metering: it ends the call, as wazero ends
// a call whose context is done, when ctx has ended.
func stopOnDone(ctx context.Context) func(int64) {
	return func(int64) {
		if ctx.Err() != nil {
			panic(sys.NewExitError(sys.ExitCodeDeadlineExceeded))
		}
	}
}
