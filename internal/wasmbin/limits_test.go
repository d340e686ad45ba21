package wasmbin

import (
	"bytes"
	"errors"
	"testing"
)

// limitModule is a module of one () -> () function with the given locals and body, plus tables.
func limitModule(locals []Local, body []byte, tables ...Table) *Module {
	return &Module{
		Types:  []FuncType{{}},
		Funcs:  []uint32{0},
		Tables: tables,
		Code:   []Func{{Locals: locals, Body: body}},
	}
}

func TestCheckLimits(t *testing.T) {
	block := func(n int) []byte {
		return append(append(bytes.Repeat([]byte{0x02, 0x40}, n), bytes.Repeat([]byte{0x0b}, n)...), 0x0b)
	}
	brTable := func(n int) []byte {
		b := []byte{0x02, 0x40, 0x41, 0x00, 0x0e}
		b = AppendULEB(b, uint64(n))
		b = append(b, bytes.Repeat([]byte{0x00}, n)...)
		return append(b, 0x00, 0x0b, 0x0b)
	}
	calls := func(n int) []byte { return append(bytes.Repeat([]byte{0x10, 0x00}, n), 0x0b) }
	funcref := func(min uint32) Table { return Table{Elem: FuncRef, Limits: Limits{Min: min}} }
	tests := []struct {
		name string
		m    *Module
		what string // "" when within the limits
	}{
		{"nesting at the limit", limitModule(nil, block(MaxNesting)), ""},
		{"nesting over", limitModule(nil, block(MaxNesting+1)), "nesting depth"},
		{"body over", limitModule(nil, append(bytes.Repeat([]byte{0x01}, MaxBodyBytes), 0x0b)), "body bytes"},
		{"locals over", limitModule([]Local{{Count: MaxFuncLocals + 1, Type: I32}}, []byte{0x0b}), "locals"},
		{"br_table at the limit", limitModule(nil, brTable(MaxBrTable-1)), ""},
		{"br_table over", limitModule(nil, brTable(MaxBrTable)), "br_table targets"},
		{"calls over", limitModule(nil, calls(MaxCallsPerBody+1)), "calls"},
		{"table minimum over", limitModule(nil, []byte{0x0b}, funcref(MaxTableElements+1)), "table elements"},
		{"tables over", limitModule(nil, []byte{0x0b}, funcref(1), funcref(1), funcref(1), funcref(1), funcref(1)), "tables"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(tt.m)
			var le *LimitError
			switch {
			case tt.what == "" && err != nil:
				t.Fatalf("Check: %v", err)
			case tt.what != "" && (!errors.As(err, &le) || !errors.Is(err, ErrLimit)):
				t.Fatalf("Check: %v, want a *LimitError", err)
			case tt.what != "" && le.What != tt.what:
				t.Fatalf("limit %q, want %q", le.What, tt.what)
			}
		})
	}
}

func TestCapTables(t *testing.T) {
	m := limitModule(nil, []byte{0x0b},
		Table{Elem: FuncRef, Limits: Limits{Min: 10}},
		Table{Elem: FuncRef, Limits: Limits{Min: 5, Max: 7, HasMax: true}},
		Table{Elem: FuncRef, Limits: Limits{Min: 0, Max: 1 << 31, HasMax: true}})
	if err := CapTables(m); err != nil {
		t.Fatal(err)
	}
	var top uint64
	for i, tb := range m.Tables {
		if !tb.Limits.HasMax {
			t.Fatalf("table %d has no maximum", i)
		}
		top += uint64(tb.Limits.Max)
	}
	if top > MaxTableElements {
		t.Errorf("tables can grow to %d elements together, more than %d", top, MaxTableElements)
	}
	if m.Tables[1].Limits.Max != 7 {
		t.Errorf("a maximum under the cap changed to %d", m.Tables[1].Limits.Max)
	}
	if err := CapTables(limitModule(nil, []byte{0x0b}, Table{Elem: FuncRef, Limits: Limits{Min: MaxTableElements + 1}})); !errors.Is(err, ErrLimit) {
		t.Errorf("minimum over the limit: %v", err)
	}
}
