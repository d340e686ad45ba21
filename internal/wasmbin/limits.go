package wasmbin

import (
	"errors"
	"fmt"
	"io"
)

// ErrLimit is wrapped by every *LimitError: a module whose shape exceeds a structural limit.
var ErrLimit = errors.New("module exceeds a structural limit")

// Structural limits a module must meet before an engine compiles it (Check). Engines' compile
// time and memory grow with these figures, some superlinearly (wazero's compiler with nesting
// depth and with the size of one function), so each is set a few times above what the Go
// toolchain emits for the largest code node the project builds (docs/RATIONALE.md, "Structural
// limits before compilation", has the measured figures), and far below where compiling one
// function takes seconds or hundreds of MiB.
const (
	// MaxFunctions bounds defined plus imported functions. A Go code node has about 2,000-4,000.
	MaxFunctions = 50_000
	// MaxBodyBytes bounds the encoded size of one function body (locals and code). The largest
	// in a Go code node is about 29 KiB (a runtime function); wazero needs about 0.6 GiB and
	// 12 s for a 900 KiB one.
	MaxBodyBytes = 128 << 10
	// MaxCodeBytes bounds the code section as a whole (arith_program: 2.7 MiB).
	MaxCodeBytes = 8 << 20
	// MaxNesting bounds open blocks, loops and ifs within one function (Go: at most about 550).
	MaxNesting = 2_000
	// MaxFuncLocals bounds the locals one function declares (MaxLocals bounds Decode itself).
	MaxFuncLocals = 10_000
	// MaxBrTable bounds the targets of one br_table.
	MaxBrTable = 20_000
	// MaxCallsPerBody bounds call and call_indirect instructions in one function.
	MaxCallsPerBody = 20_000
	// MaxTypes, MaxImports, MaxExports and MaxGlobals bound the entries of those sections.
	MaxTypes   = 10_000
	MaxImports = 1_000
	MaxExports = 10_000
	MaxGlobals = 10_000
	// MaxDataSegments and MaxElemSegments bound segment counts.
	MaxDataSegments = 100_000
	MaxElemSegments = 10_000
	// MaxTables bounds defined plus imported tables.
	MaxTables = 4
	// MaxTableElements bounds the elements of all tables together, at their declared minimum
	// and at any size table.grow can reach (see CapTables). At 8 bytes of host memory per
	// element that is 8 MiB.
	MaxTableElements = 1 << 20
)

// LimitError reports which structural limit a module exceeds.
type LimitError struct {
	// What names the limit, e.g. "nesting depth".
	What string
	// Func is the function index the figure belongs to, or -1.
	Func int
	// Got and Max are the module's figure and the limit.
	Got, Max uint64
}

func (e *LimitError) Error() string {
	if e.Func >= 0 {
		return fmt.Sprintf("%v: function %d: %s %d > %d", ErrLimit, e.Func, e.What, e.Got, e.Max)
	}
	return fmt.Sprintf("%v: %s %d > %d", ErrLimit, e.What, e.Got, e.Max)
}

func (e *LimitError) Unwrap() error { return ErrLimit }

// Shape is the structural figures of a module that Check compares with the limits.
type Shape struct {
	Functions, Types, Imports, Exports, Globals, Tables uint64
	DataSegments, ElemSegments                          uint64
	TableElements                                       uint64 // sum of declared minimums
	CodeBytes                                           uint64
	// The largest figure of any one function.
	BodyBytes, Nesting, Locals, BrTable, Calls uint64
}

// Measure walks m's sections and function bodies.
func Measure(m *Module) (Shape, error) {
	s, err := measure(m, nil)
	return s, err
}

// Check returns a *LimitError when m exceeds any structural limit, checking cheap section
// counts before walking function bodies, and stopping at the first function over a limit.
func Check(m *Module) error {
	_, err := measure(m, checkLimit)
	return err
}

func checkLimit(what string, fn int, got, max uint64) error {
	if got > max {
		return &LimitError{What: what, Func: fn, Got: got, Max: max}
	}
	return nil
}

func measure(m *Module, check func(what string, fn int, got, max uint64) error) (Shape, error) {
	var s Shape
	if check == nil {
		check = func(string, int, uint64, uint64) error { return nil }
	}
	nImpFuncs := uint64(m.NumImported(KindFunc))
	s.Functions = nImpFuncs + uint64(len(m.Funcs))
	s.Types, s.Imports, s.Exports = uint64(len(m.Types)), uint64(len(m.Imports)), uint64(len(m.Exports))
	s.Globals = uint64(m.NumImported(KindGlobal)) + uint64(len(m.Globals))
	s.Tables = uint64(m.NumImported(KindTable)) + uint64(len(m.Tables))
	s.DataSegments, s.ElemSegments = uint64(len(m.Data)), uint64(len(m.Elements))
	for _, im := range m.Imports {
		if im.Kind == KindTable {
			s.TableElements += uint64(im.Table.Limits.Min)
		}
	}
	for _, t := range m.Tables {
		s.TableElements += uint64(t.Limits.Min)
	}
	for _, c := range m.Code {
		s.CodeBytes += uint64(len(c.Body)) + 8*uint64(len(c.Locals))
	}
	for _, c := range []struct {
		what     string
		got, max uint64
	}{
		{"functions", s.Functions, MaxFunctions},
		{"types", s.Types, MaxTypes},
		{"imports", s.Imports, MaxImports},
		{"exports", s.Exports, MaxExports},
		{"globals", s.Globals, MaxGlobals},
		{"tables", s.Tables, MaxTables},
		{"table elements", s.TableElements, MaxTableElements},
		{"data segments", s.DataSegments, MaxDataSegments},
		{"element segments", s.ElemSegments, MaxElemSegments},
		{"code bytes", s.CodeBytes, MaxCodeBytes},
	} {
		if err := check(c.what, -1, c.got, c.max); err != nil {
			return s, err
		}
	}
	var in Instr
	ir := NewInstrReader(nil, 0)
	for i := range m.Code {
		f := &m.Code[i]
		idx := int(nImpFuncs) + i
		body := uint64(len(f.Body))
		if f.orig != nil {
			body = uint64(len(f.orig))
		}
		locals := f.NumLocals()
		s.BodyBytes, s.Locals = max(s.BodyBytes, body), max(s.Locals, locals)
		if err := check("body bytes", idx, body, MaxBodyBytes); err != nil {
			return s, err
		}
		if err := check("locals", idx, locals, MaxFuncLocals); err != nil {
			return s, err
		}
		var calls, depth, brTable uint64
		ir.Reset(f.Body, 0)
		for {
			err := ir.Next(&in)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return s, fmt.Errorf("function %d: %w", idx, err)
			}
			switch in.Op {
			case OpCall, OpCallIndirect, OpReturnCall, OpReturnCallIndirect:
				calls++
			case OpBrTable:
				brTable = max(brTable, uint64(len(in.Labels))+1)
			case OpBlock, OpLoop, OpIf:
				depth = max(depth, uint64(ir.Depth()-1))
				if depth > MaxNesting {
					return s, check("nesting depth", idx, depth, MaxNesting)
				}
			}
		}
		s.Nesting, s.BrTable, s.Calls = max(s.Nesting, depth), max(s.BrTable, brTable), max(s.Calls, calls)
		if err := check("nesting depth", idx, depth, MaxNesting); err != nil {
			return s, err
		}
		if err := check("br_table targets", idx, brTable, MaxBrTable); err != nil {
			return s, err
		}
		if err := check("calls", idx, calls, MaxCallsPerBody); err != nil {
			return s, err
		}
	}
	return s, nil
}

// CapTables gives every defined table a maximum, so that table.grow cannot take the tables
// past MaxTableElements together: each table may grow to its share of what the minimums leave.
// It fails with a *LimitError when the minimums alone exceed the limit. Imported tables are
// left alone (engines refuse them).
func CapTables(m *Module) error {
	var mins uint64
	for _, im := range m.Imports {
		if im.Kind == KindTable {
			mins += uint64(im.Table.Limits.Min)
		}
	}
	for _, t := range m.Tables {
		mins += uint64(t.Limits.Min)
	}
	if err := checkLimit("table elements", -1, mins, MaxTableElements); err != nil {
		return err
	}
	if len(m.Tables) == 0 {
		return nil
	}
	share := (MaxTableElements - mins) / uint64(len(m.Tables))
	for i := range m.Tables {
		l := &m.Tables[i].Limits
		top := uint64(l.Min) + share
		if !l.HasMax || uint64(l.Max) > top {
			l.HasMax, l.Max = true, uint32(top)
		}
	}
	return nil
}
