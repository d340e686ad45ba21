package rewrite

import (
	"fmt"

	"github.com/sgde-project/sgde/internal/wasmbin"
	"github.com/sgde-project/sgde/wasm/abi"
)

// stackLimit counts live guest activations in a global: +1 at entry (trapping through the
// stack_overflow import past maxDepth) and -1 on every exit. Rather than find every branch to
// the function's outermost label, the body is wrapped in a block with the function's result
// type: relative label indices are unchanged, so such branches now land at the block's end,
// where the single epilogue decrements. Only return and the tail calls need their own
// decrement, placed just before them (it touches no operand, so multi-value returns are fine).
func stackLimit(m *wasmbin.Module, overflow, maxDepth uint32) error {
	depth := m.AddGlobal(wasmbin.Global{
		Type: wasmbin.GlobalType{Type: wasmbin.I32, Mutable: true},
		Init: wasmbin.ConstExprI32(0),
	})
	if err := m.AddExport(wasmbin.Export{Name: abi.DepthGlobal, Kind: wasmbin.KindGlobal, Index: depth}); err != nil {
		return err
	}
	var dec []byte
	dec = wasmbin.AppendULEB(append(dec, byte(wasmbin.OpGlobalGet)), uint64(depth))
	dec = append(dec, byte(wasmbin.OpI32Const), 1, byte(wasmbin.OpI32Sub), byte(wasmbin.OpGlobalSet))
	dec = wasmbin.AppendULEB(dec, uint64(depth))

	var pro []byte
	pro = wasmbin.AppendULEB(append(pro, byte(wasmbin.OpGlobalGet)), uint64(depth))
	pro = append(pro, byte(wasmbin.OpI32Const), 1, byte(wasmbin.OpI32Add), byte(wasmbin.OpGlobalSet))
	pro = wasmbin.AppendULEB(pro, uint64(depth))
	pro = wasmbin.AppendULEB(append(pro, byte(wasmbin.OpGlobalGet)), uint64(depth))
	pro = wasmbin.AppendSLEB(append(pro, byte(wasmbin.OpI32Const)), int64(int32(maxDepth)))
	pro = append(pro, byte(wasmbin.OpI32GtU), byte(wasmbin.OpIf), 0x40, byte(wasmbin.OpCall))
	pro = wasmbin.AppendULEB(pro, uint64(overflow))
	pro = append(pro, byte(wasmbin.OpUnreachable), byte(wasmbin.OpEnd))

	ir := wasmbin.NewInstrReader(nil, 0)
	var in wasmbin.Instr
	for i := range m.Code {
		f := &m.Code[i]
		if uint64(m.Funcs[i]) >= uint64(len(m.Types)) {
			return fmt.Errorf("function %d: type index %d out of range", i, m.Funcs[i])
		}
		results := m.Types[m.Funcs[i]].Results
		var bt int64
		switch len(results) {
		case 0:
			bt = wasmbin.BlockEmpty
		case 1:
			bt = wasmbin.BlockTypeOf(results[0])
		default:
			bt = int64(m.TypeIndex(wasmbin.FuncType{Results: results}))
		}
		body := f.Body
		out := make([]byte, 0, len(body)+len(pro)+len(dec)+16)
		out = append(out, pro...)
		out = wasmbin.AppendSLEB(append(out, byte(wasmbin.OpBlock)), bt)
		ir.Reset(body, 0)
		copied := 0
		for {
			if err := ir.Next(&in); err != nil {
				return fmt.Errorf("function %d: %w", i, err)
			}
			if ir.Depth() == 0 {
				break
			}
			if in.Op == wasmbin.OpReturn || in.Op == wasmbin.OpReturnCall || in.Op == wasmbin.OpReturnCallIndirect {
				out = append(out, body[copied:in.Start]...)
				out = append(out, dec...)
				copied = in.Start
			}
		}
		out = append(out, body[copied:len(body)-1]...) // without the final end
		out = append(out, byte(wasmbin.OpEnd))
		out = append(out, dec...)
		f.Body = append(out, byte(wasmbin.OpEnd))
	}
	return nil
}
