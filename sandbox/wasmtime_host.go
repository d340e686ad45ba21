//go:build wasmtime && cgo

package sandbox

import (
	"fmt"

	"github.com/bytecodealliance/wasmtime-go/v39"

	"github.com/sgde-project/sgde/wasm/abi"
)

// wtDefineSGDE defines input_size, input_read and output_write. output_write goes through
// callOutput, the wazero engine's own bookkeeping, so both engines accept and reject exactly the
// same results.
func wtDefineSGDE(l *wasmtime.Linker) error {
	ty := func(params, results int) *wasmtime.FuncType {
		p := make([]*wasmtime.ValType, params)
		for i := range p {
			p[i] = wasmtime.NewValType(wasmtime.KindI32)
		}
		r := make([]*wasmtime.ValType, results)
		for i := range r {
			r[i] = wasmtime.NewValType(wasmtime.KindI32)
		}
		return wasmtime.NewFuncType(p, r)
	}
	if err := l.FuncNew(abi.HostModule, abi.InputSize, ty(0, 1), func(c *wasmtime.Caller, _ []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
		return []wasmtime.Val{wasmtime.ValI32(int32(len(wtCallStateOf(c).input)))}, nil
	}); err != nil {
		return fmt.Errorf("define sgde.input_size: %w", err)
	}
	if err := l.FuncNew(abi.HostModule, abi.InputRead, ty(1, 0), func(c *wasmtime.Caller, args []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
		st := wtCallStateOf(c)
		m, trap := wtCallerMemory(c)
		if trap != nil {
			return nil, trap
		}
		b, ok := m.read(uint32(args[0].I32()), uint32(len(st.input)))
		if !ok {
			return nil, wasmtime.NewTrap("sgde: input_read out of bounds")
		}
		copy(b, st.input)
		return nil, nil
	}); err != nil {
		return fmt.Errorf("define sgde.input_read: %w", err)
	}
	// The fuel and stack-depth passes of package sandbox/internal/rewrite call these when a limit is hit
	// (its "host contract"); neither returns.
	for name, sentinel := range map[string]error{abi.OutOfFuel: ErrFuelExhausted, abi.StackOverflow: ErrStackOverflow} {
		if err := l.FuncNew(abi.HostModule, name, ty(0, 0), func(c *wasmtime.Caller, _ []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
			st := wtCallStateOf(c)
			if st.meterTrap == nil {
				st.meterTrap = sentinel
			}
			return nil, wasmtime.NewTrap("sgde: " + sentinel.Error())
		}); err != nil {
			return fmt.Errorf("define sgde.%s: %w", name, err)
		}
	}
	if err := l.FuncNew(abi.HostModule, abi.OutputWrite, ty(2, 0), func(c *wasmtime.Caller, args []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
		st := wtCallStateOf(c)
		m, trap := wtCallerMemory(c)
		if trap != nil {
			return nil, trap
		}
		ptr, n := uint32(args[0].I32()), uint32(args[1].I32())
		st.out.write(uint64(n), func() ([]byte, bool) { return m.read(ptr, n) })
		return nil, nil
	}); err != nil {
		return fmt.Errorf("define sgde.output_write: %w", err)
	}
	return nil
}
