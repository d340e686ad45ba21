package wasmbin

import (
	"errors"
	"fmt"
)

// ErrInvalid is wrapped by CheckIndices errors.
var ErrInvalid = errors.New("invalid module")

// CheckIndices checks that every index in the module (types, functions, tables, memories,
// globals, locals, labels, data and element segments) is in range. It is not a validator: it
// exists so that passes which add functions, globals, types or labels cannot turn a module that
// refers to a missing one into a valid module with a different meaning.
func (m *Module) CheckIndices() error {
	n := struct{ types, funcs, tables, mems, globals, data, elems uint64 }{
		types: uint64(len(m.Types)), elems: uint64(len(m.Elements)), data: uint64(len(m.Data)),
	}
	for _, im := range m.Imports {
		switch im.Kind {
		case KindFunc:
			if uint64(im.Func) >= n.types {
				return fmt.Errorf("%w: import %s.%s: unknown type %d", ErrInvalid, im.Module, im.Name, im.Func)
			}
			n.funcs++
		case KindTable:
			n.tables++
		case KindMemory:
			n.mems++
		case KindGlobal:
			n.globals++
		}
	}
	for i, t := range m.Funcs {
		if uint64(t) >= n.types {
			return fmt.Errorf("%w: function %d: unknown type %d", ErrInvalid, i, t)
		}
	}
	n.funcs += uint64(len(m.Funcs))
	n.tables += uint64(len(m.Tables))
	n.mems += uint64(len(m.Memories))
	n.globals += uint64(len(m.Globals))
	if m.DataCount != nil {
		n.data = uint64(*m.DataCount)
	}
	ir := NewInstrReader(nil, 0)
	var in Instr
	// expr checks the indices in a constant expression or function body.
	expr := func(kind string, idx int, code []byte, locals uint64, globals uint64) error {
		what := func() string { return fmt.Sprintf("%s %d", kind, idx) }
		ir.Reset(code, 0)
		for {
			depth := uint64(ir.Depth())
			if err := ir.Next(&in); err != nil {
				return fmt.Errorf("%s: %w", what(), err)
			}
			bad := func(kind string, idx uint64) error {
				return fmt.Errorf("%w: %s: unknown %s %d at offset %d", ErrInvalid, what(), kind, idx, in.Start)
			}
			x := uint64(in.Index)
			switch op := in.Op; {
			case op == OpBlock || op == OpLoop || op == OpIf:
				if in.BlockType >= 0 && uint64(in.BlockType) >= n.types {
					return bad("type", uint64(in.BlockType))
				}
			case op == OpBr || op == OpBrIf:
				if x >= depth {
					return bad("label", x)
				}
			case op == OpBrTable:
				if x >= depth {
					return bad("label", x)
				}
				for _, l := range in.Labels {
					if uint64(l) >= depth {
						return bad("label", uint64(l))
					}
				}
			case op == OpCall || op == OpReturnCall || op == OpRefFunc:
				if x >= n.funcs {
					return bad("function", x)
				}
			case op == OpCallIndirect || op == OpReturnCallIndirect:
				if x >= n.types {
					return bad("type", x)
				}
				if uint64(in.Index2) >= n.tables {
					return bad("table", uint64(in.Index2))
				}
			case op == OpLocalGet || op == OpLocalSet || op == OpLocalTee:
				if x >= locals {
					return bad("local", x)
				}
			case op == OpGlobalGet || op == OpGlobalSet:
				if x >= globals {
					return bad("global", x)
				}
			case op == OpTableGet || op == OpTableSet || op == OpTableGrow || op == OpTableSize || op == OpTableFill:
				if x >= n.tables {
					return bad("table", x)
				}
			case op == OpTableCopy:
				if x >= n.tables || uint64(in.Index2) >= n.tables {
					return bad("table", max(x, uint64(in.Index2)))
				}
			case op == OpTableInit:
				if x >= n.elems {
					return bad("elem segment", x)
				}
				if uint64(in.Index2) >= n.tables {
					return bad("table", uint64(in.Index2))
				}
			case op == OpElemDrop:
				if x >= n.elems {
					return bad("elem segment", x)
				}
			case op == OpMemoryInit || op == OpDataDrop:
				if x >= n.data {
					return bad("data segment", x)
				}
			}
			if ir.Depth() == 0 {
				return nil
			}
		}
	}
	for i, g := range m.Globals {
		if err := expr("global", i, g.Init, 0, n.globals); err != nil {
			return err
		}
	}
	for i, e := range m.Exports {
		lim := [4]uint64{n.funcs, n.tables, n.mems, n.globals}[e.Kind&3]
		if uint64(e.Index) >= lim {
			return fmt.Errorf("%w: export %q: index %d out of range", ErrInvalid, e.Name, i)
		}
	}
	if m.Start != nil && uint64(*m.Start) >= n.funcs {
		return fmt.Errorf("%w: unknown start function %d", ErrInvalid, *m.Start)
	}
	for i, e := range m.Elements {
		if e.Mode == ModeActive {
			if uint64(e.Table) >= n.tables {
				return fmt.Errorf("%w: element %d: unknown table %d", ErrInvalid, i, e.Table)
			}
			if err := expr("element", i, e.Offset, 0, n.globals); err != nil {
				return err
			}
		}
		for _, f := range e.Funcs {
			if uint64(f) >= n.funcs {
				return fmt.Errorf("%w: element %d: unknown function %d", ErrInvalid, i, f)
			}
		}
		for _, x := range e.Exprs {
			if err := expr("element", i, x, 0, n.globals); err != nil {
				return err
			}
		}
	}
	for i, d := range m.Data {
		if d.Mode == ModeActive {
			if uint64(d.Memory) >= n.mems {
				return fmt.Errorf("%w: data %d: unknown memory %d", ErrInvalid, i, d.Memory)
			}
			if err := expr("data", i, d.Offset, 0, n.globals); err != nil {
				return err
			}
		}
	}
	for i := range m.Code {
		f := &m.Code[i]
		locals := uint64(len(m.Types[m.Funcs[i]].Params)) + f.NumLocals()
		if err := expr("function", i, f.Body, locals, n.globals); err != nil {
			return err
		}
	}
	return nil
}
