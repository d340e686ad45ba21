package rewrite

import (
	"fmt"

	"github.com/sgde-project/sgde/internal/wasmbin"
	"github.com/sgde-project/sgde/wasm/abi"
)

// Fuel costs. They are part of the host contract: changing one changes every fuel figure.
const (
	// CostInstr is charged for every instruction of a run except the structural ones (block,
	// loop, else, end, nop), which cost 0 so that Go's deep br_table dispatch nests are not
	// overcharged. A run is the code between control-flow boundaries (loop, if, else, end, br,
	// br_table, return, unreachable, tail calls) and is charged in full on entry: a taken br_if
	// pays for the rest of its run, a trap for the rest of its run.
	CostInstr = 1
	// CostPerPage is charged per 64 KiB page requested by memory.grow (whether or not it
	// succeeds), on top of CostInstr.
	CostPerPage = 1024
	// CostBulkByteShift: memory.copy, memory.fill and memory.init cost len>>CostBulkByteShift
	// (1 per 64 bytes) on top of CostInstr.
	CostBulkByteShift = 6
	// CostPerElem is charged per element by table.grow, table.fill, table.copy and table.init.
	CostPerElem = 1
)

func meter(m *wasmbin.Module, oof uint32, initial int64) error {
	fuel := m.AddGlobal(wasmbin.Global{
		Type: wasmbin.GlobalType{Type: wasmbin.I64, Mutable: true},
		Init: wasmbin.ConstExprI64(initial),
	})
	if err := m.AddExport(wasmbin.Export{Name: abi.FuelGlobal, Kind: wasmbin.KindGlobal, Index: fuel}); err != nil {
		return err
	}
	mt := meterer{fuel: fuel, oof: oof, ir: wasmbin.NewInstrReader(nil, 0), types: m.Types}
	for i := range m.Code {
		f := &m.Code[i]
		if uint64(m.Funcs[i]) >= uint64(len(m.Types)) {
			return fmt.Errorf("function %d: type index %d out of range", i, m.Funcs[i])
		}
		nlocals := uint64(len(m.Types[m.Funcs[i]].Params)) + f.NumLocals()
		if nlocals >= 1<<32-1 {
			return fmt.Errorf("function %d: %w", i, wasmbin.ErrTooLarge)
		}
		mt.scratch = uint32(nlocals)
		body, usedScratch, err := mt.function(f.Body)
		if err != nil {
			return fmt.Errorf("function %d: %w", i, err)
		}
		f.Body = body
		if usedScratch {
			f.Locals = append(f.Locals[:len(f.Locals):len(f.Locals)], wasmbin.Local{Count: 1, Type: wasmbin.I32})
		}
	}
	return nil
}

type meterer struct {
	fuel, oof, scratch uint32
	types              []wasmbin.FuncType
	ir                 *wasmbin.InstrReader
	list               []span
	charge             []int64
	check              []checkKind
}

type span struct {
	op         wasmbin.Op
	start, end int
	blockType  int64
}

// checkKind is the fuel check placed before an instruction.
type checkKind byte

const (
	_ checkKind = iota // no check
	// entryCheck: charge the run, then if fuel < 0 call out_of_fuel and fall through.
	entryCheck
	// loopCheck, at the top of a loop body: if fuel < 0 call out_of_fuel and branch back to
	// the loop, then charge the run. The branch keeps the code after the check reachable from
	// one place only, so that the compiler can keep values (globals Go's code reads on every
	// iteration) in registers across the check; a fall-through join after the call made tight
	// loops markedly slower in wazero (docs/RATIONALE.md, "Fuel is charged per run"). Checking
	// before charging means the refilled loop is
	// not charged twice for its first run.
	loopCheck
)

func cost(op wasmbin.Op) int64 {
	switch op {
	case wasmbin.OpBlock, wasmbin.OpLoop, wasmbin.OpElse, wasmbin.OpEnd, wasmbin.OpNop:
		return 0
	}
	return CostInstr
}

// endsRun reports whether the instruction after op may be reached other than by falling
// through from op, or op may not fall through: the boundary of a charged run. br_if is not one:
// the code after it is charged with the code before it, so a taken br_if pays for the rest of its
// run. That halves the charge sites in Go code (which tests for unwinding with br_if after every
// call) and keeps the figure deterministic.
func endsRun(op wasmbin.Op) bool {
	switch op {
	case wasmbin.OpLoop, wasmbin.OpIf, wasmbin.OpElse, wasmbin.OpEnd, wasmbin.OpBr,
		wasmbin.OpBrTable, wasmbin.OpReturn, wasmbin.OpUnreachable, wasmbin.OpReturnCall,
		wasmbin.OpReturnCallIndirect:
		return true
	}
	return false
}

func isCall(op wasmbin.Op) bool {
	return op == wasmbin.OpCall || op == wasmbin.OpCallIndirect || op == wasmbin.OpReturnCall || op == wasmbin.OpReturnCallIndirect
}

func (mt *meterer) function(body []byte) ([]byte, bool, error) {
	mt.ir.Reset(body, 0)
	mt.list = mt.list[:0]
	var in wasmbin.Instr
	for {
		if err := mt.ir.Next(&in); err != nil {
			return nil, false, err
		}
		mt.list = append(mt.list, span{in.Op, in.Start, in.End, in.BlockType})
		if mt.ir.Depth() == 0 {
			break
		}
	}
	n := len(mt.list)
	mt.charge = append(mt.charge[:0], make([]int64, n+1)...)
	mt.check = append(mt.check[:0], make([]checkKind, n+1)...)
	runStart, runCost := 0, int64(0)
	hasCall := false
	entryReachesLoop, entryDecided := false, false
	for i, s := range mt.list {
		runCost += cost(s.op)
		hasCall = hasCall || isCall(s.op)
		// The entry falls into a loop header only if nothing before it can branch away.
		if !entryDecided && (s.op == wasmbin.OpLoop || isCall(s.op) || endsRun(s.op) || s.op == wasmbin.OpBrIf) {
			entryReachesLoop, entryDecided = s.op == wasmbin.OpLoop, true
		}
		if endsRun(s.op) {
			mt.charge[runStart] += runCost
			runStart, runCost = i+1, 0
			if s.op == wasmbin.OpLoop {
				mt.check[i+1] = loopCheck
				if mt.loopHasParams(s.blockType) {
					// A branch to the loop would need its parameters, which the check
					// cannot reach: fall through instead (Go and TinyGo emit no such loops).
					mt.check[i+1] = entryCheck
				}
			}
		}
	}
	mt.charge[runStart] += runCost
	// Every loop header checks. A function that calls out must also check before its first
	// call, unless its entry falls straight into a loop header (Go's resume dispatch loop), so
	// that unbounded recursion runs out of fuel too.
	if hasCall && !entryReachesLoop {
		mt.check[0] = entryCheck
	}

	out := make([]byte, 0, len(body)+len(body)/4+16)
	usedScratch := false
	for i, s := range mt.list {
		if mt.check[i] == loopCheck {
			out = mt.appendLoopCheck(out)
		}
		if c := mt.charge[i]; c > 0 {
			out = mt.appendCharge(out, c)
		}
		if mt.check[i] == entryCheck {
			out = mt.appendCheck(out)
		}
		switch s.op {
		case wasmbin.OpMemoryGrow:
			out = mt.appendDynamic(out, func(b []byte) []byte {
				return append(wasmbin.AppendSLEB(append(b, byte(wasmbin.OpI64Const)), CostPerPage), byte(wasmbin.OpI64Mul))
			})
			usedScratch = true
		case wasmbin.OpMemoryCopy, wasmbin.OpMemoryFill, wasmbin.OpMemoryInit:
			out = mt.appendDynamic(out, func(b []byte) []byte {
				return append(wasmbin.AppendSLEB(append(b, byte(wasmbin.OpI64Const)), CostBulkByteShift), byte(wasmbin.OpI64ShrU))
			})
			usedScratch = true
		case wasmbin.OpTableGrow, wasmbin.OpTableFill, wasmbin.OpTableCopy, wasmbin.OpTableInit:
			out = mt.appendDynamic(out, func(b []byte) []byte {
				if CostPerElem == 1 {
					return b
				}
				return append(wasmbin.AppendSLEB(append(b, byte(wasmbin.OpI64Const)), CostPerElem), byte(wasmbin.OpI64Mul))
			})
			usedScratch = true
		}
		out = append(out, body[s.start:s.end]...)
	}
	return out, usedScratch, nil
}

func (mt *meterer) appendCharge(b []byte, c int64) []byte {
	b = wasmbin.AppendULEB(append(b, byte(wasmbin.OpGlobalGet)), uint64(mt.fuel))
	b = wasmbin.AppendSLEB(append(b, byte(wasmbin.OpI64Const)), c)
	b = append(b, byte(wasmbin.OpI64Sub), byte(wasmbin.OpGlobalSet))
	return wasmbin.AppendULEB(b, uint64(mt.fuel))
}

// appendCheck calls the out_of_fuel import when fuel < 0. The host either stops the guest there
// or returns after adding fuel, and the guest goes on: that lets a host hand out a budget in
// slices and look at the clock between them (see the package's host contract).
func (mt *meterer) appendCheck(b []byte) []byte {
	b = wasmbin.AppendULEB(append(b, byte(wasmbin.OpGlobalGet)), uint64(mt.fuel))
	b = append(b, byte(wasmbin.OpI64Const), 0, byte(wasmbin.OpI64LtS), byte(wasmbin.OpIf), 0x40, byte(wasmbin.OpCall))
	b = wasmbin.AppendULEB(b, uint64(mt.oof))
	return append(b, byte(wasmbin.OpEnd))
}

// appendLoopCheck, at the top of a loop body, calls out_of_fuel when fuel < 0 and then branches
// back to the loop (label 1 from inside the if), so the check runs again with what the host
// added.
func (mt *meterer) appendLoopCheck(b []byte) []byte {
	b = wasmbin.AppendULEB(append(b, byte(wasmbin.OpGlobalGet)), uint64(mt.fuel))
	b = append(b, byte(wasmbin.OpI64Const), 0, byte(wasmbin.OpI64LtS), byte(wasmbin.OpIf), 0x40, byte(wasmbin.OpCall))
	b = wasmbin.AppendULEB(b, uint64(mt.oof))
	return append(b, byte(wasmbin.OpBr), 1, byte(wasmbin.OpEnd))
}

// loopHasParams reports whether a loop's block type takes parameters.
func (mt *meterer) loopHasParams(bt int64) bool {
	return bt >= 0 && bt < int64(len(mt.types)) && len(mt.types[bt].Params) > 0
}

// appendDynamic charges scale(n) where n is the i32 on top of the stack (the length, page or
// element count operand of every sized operation), leaving the stack unchanged, then checks.
func (mt *meterer) appendDynamic(b []byte, scale func([]byte) []byte) []byte {
	b = wasmbin.AppendULEB(append(b, byte(wasmbin.OpLocalTee)), uint64(mt.scratch))
	b = wasmbin.AppendULEB(append(b, byte(wasmbin.OpGlobalGet)), uint64(mt.fuel))
	b = wasmbin.AppendULEB(append(b, byte(wasmbin.OpLocalGet)), uint64(mt.scratch))
	b = append(b, byte(wasmbin.OpI64ExtendI32U))
	b = scale(b)
	b = append(b, byte(wasmbin.OpI64Sub), byte(wasmbin.OpGlobalSet))
	b = wasmbin.AppendULEB(b, uint64(mt.fuel))
	return mt.appendCheck(b)
}
