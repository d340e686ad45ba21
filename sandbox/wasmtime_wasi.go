//go:build wasmtime && cgo

package sandbox

import (
	"fmt"
	"strings"

	"github.com/bytecodealliance/wasmtime-go/v39"
	"github.com/tetratelabs/wazero/api"
)

// wtExitTrapMessage is the trap proc_exit raises to unwind the guest; the exit code is in wasiState.
const wtExitTrapMessage = "sgde: proc_exit"

const (
	wtI32 = wasmtime.KindI32
	wtI64 = wasmtime.KindI64
)

func wtSig(kinds ...wasmtime.ValKind) []wasmtime.ValKind { return kinds }

// wtKinds converts wasi.go's wazero value types to wasmtime's.
func wtKinds(ts []api.ValueType) []wasmtime.ValKind {
	out := make([]wasmtime.ValKind, len(ts))
	for i, t := range ts {
		out[i] = wtI32
		if t == api.ValueTypeI64 {
			out[i] = wtI64
		}
	}
	return out
}

// wtDefineWASI defines every WASI function on l. Each reads its per-call state from the store's
// data and its memory from the caller's "memory" export.
func wtDefineWASI(l *wasmtime.Linker) error {
	for _, f := range wasiFuncs {
		f := f
		params := make([]*wasmtime.ValType, len(f.params))
		for i, k := range wtKinds(f.params) {
			params[i] = wasmtime.NewValType(k)
		}
		ty := wasmtime.NewFuncType(params, []*wasmtime.ValType{wasmtime.NewValType(wtI32)})
		err := l.FuncNew(wasiModuleName, f.name, ty, func(c *wasmtime.Caller, args []wasmtime.Val) (res []wasmtime.Val, trap *wasmtime.Trap) {
			st := wtCallStateOf(c)
			defer wtRecoverHostPanic(st, f.name, &trap)
			m, trap := wtCallerMemory(c)
			if trap != nil {
				return nil, trap
			}
			st.caller = c
			defer func() { st.caller = nil }()
			st.wasi.charge(wasiCallFuel)
			errno := f.fn(st.wasi, m, wtValsToU64(args))
			return []wasmtime.Val{wasmtime.ValI32(int32(errno))}, nil
		})
		if err != nil {
			return fmt.Errorf("define %s.%s: %w", wasiModuleName, f.name, err)
		}
	}
	ty := wasmtime.NewFuncType([]*wasmtime.ValType{wasmtime.NewValType(wtI32)}, nil)
	return l.FuncNew(wasiModuleName, "proc_exit", ty, func(c *wasmtime.Caller, args []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
		st := wtCallStateOf(c)
		st.exited = true
		st.exitCode = uint32(args[0].I32())
		return nil, wasmtime.NewTrap(wtExitTrapMessage)
	})
}

func wtValsToU64(args []wasmtime.Val) []uint64 {
	p := make([]uint64, len(args))
	for i, a := range args {
		if a.Kind() == wtI64 {
			p[i] = uint64(a.I64())
		} else {
			p[i] = uint64(uint32(a.I32()))
		}
	}
	return p
}

// wtCallerMemory returns the calling instance's exported memory. A module without one cannot
// use any function that touches memory; wazero fails such a call too.
func wtCallerMemory(c *wasmtime.Caller) (wasiMemory, *wasmtime.Trap) {
	ext := c.GetExport("memory")
	if ext == nil || ext.Memory() == nil {
		return nil, wasmtime.NewTrap("sgde: module exports no memory")
	}
	return wasiMemory(ext.Memory().UnsafeData(c)), nil
}

// wtRecoverHostPanic turns a panic in a host function into a trap (wazero turns it into an
// error), so that hostile arguments can never take the host down.
func wtRecoverHostPanic(st *wtCallState, name string, trap **wasmtime.Trap) {
	if r := recover(); r != nil {
		st.hostPanic = fmt.Sprintf("%s: %v", name, r)
		*trap = wasmtime.NewTrap("sgde: host function " + strings.TrimSpace(st.hostPanic))
	}
}
