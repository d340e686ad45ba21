package wasmbin

import "fmt"

// AddFuncImports appends function imports (Kind must be KindFunc) after the existing imports and
// renumbers every reference to a defined function, which the new imports shift: calls, ref.func,
// exports, the start function, element segments, global initializers and the name section's
// function, local and label maps. It returns the index of the first new function.
//
// A name section that cannot be parsed is dropped, as engines ignore it too.
func (m *Module) AddFuncImports(imps ...Import) (uint32, error) {
	oldImp := m.NumImported(KindFunc)
	k := uint32(len(imps))
	for _, im := range imps {
		if im.Kind != KindFunc {
			return 0, fmt.Errorf("%w: AddFuncImports given import kind %d", ErrInconsistent, im.Kind)
		}
	}
	if k == 0 {
		return oldImp, nil
	}
	if uint64(oldImp)+uint64(len(m.Funcs))+uint64(k) > 1<<32-1 {
		return 0, fmt.Errorf("%w: function index space overflows", ErrTooLarge)
	}
	shift := func(i uint32) uint32 {
		if i >= oldImp {
			return i + k
		}
		return i
	}
	// Insert the imports after the last existing function import, or at the end.
	m.Imports = append(m.Imports, imps...)
	m.present[SecImport] = true

	ir := NewInstrReader(nil, 0)
	for i := range m.Code {
		nb, err := renumberFuncs(ir, m.Code[i].Body, shift)
		if err != nil {
			return 0, fmt.Errorf("function %d: %w", i, err)
		}
		if nb != nil {
			m.Code[i].Body = nb
		}
	}
	for i := range m.Globals {
		nb, err := renumberFuncs(ir, m.Globals[i].Init, shift)
		if err != nil {
			return 0, fmt.Errorf("global %d: %w", i, err)
		}
		if nb != nil {
			m.Globals[i].Init = nb
		}
	}
	for i := range m.Elements {
		e := &m.Elements[i]
		for j, f := range e.Funcs {
			e.Funcs[j] = shift(f)
		}
		for j, x := range e.Exprs {
			nb, err := renumberFuncs(ir, x, shift)
			if err != nil {
				return 0, fmt.Errorf("element %d: %w", i, err)
			}
			if nb != nil {
				e.Exprs[j] = nb
			}
		}
	}
	for i := range m.Exports {
		if m.Exports[i].Kind == KindFunc {
			m.Exports[i].Index = shift(m.Exports[i].Index)
		}
	}
	if m.Start != nil {
		s := shift(*m.Start)
		m.Start = &s
	}
	for i := 0; i < len(m.Customs); i++ {
		if m.Customs[i].Name != "name" {
			continue
		}
		names := make([]string, k)
		for j, im := range imps {
			names[j] = im.Module + "." + im.Name
		}
		d, ok := renumberNames(m.Customs[i].Data, oldImp, names)
		if !ok {
			m.Customs = append(m.Customs[:i], m.Customs[i+1:]...)
			i--
			continue
		}
		m.Customs[i].Data = d
	}
	return oldImp, nil
}

// renumberFuncs rewrites the function indices of call, return_call and ref.func in code,
// keeping each index's encoded width where it fits. It returns nil when nothing changed.
func renumberFuncs(ir *InstrReader, code []byte, shift func(uint32) uint32) ([]byte, error) {
	ir.Reset(code, 0)
	var out []byte
	copied := 0
	var in Instr
	for {
		err := ir.Next(&in)
		if err != nil {
			return nil, err
		}
		if in.Op == OpCall || in.Op == OpReturnCall || in.Op == OpRefFunc {
			if n := shift(in.Index); n != in.Index {
				if out == nil {
					out = make([]byte, 0, len(code)+len(code)/16)
				}
				out = append(out, code[copied:in.Start]...)
				out = append(out, byte(in.Op))
				out = AppendULEBWidth(out, uint64(n), in.End-in.Start-1)
				copied = in.End
			}
		}
		if ir.Depth() == 0 {
			break
		}
	}
	if out == nil {
		return nil, nil
	}
	return append(out, code[copied:]...), nil
}

// renumberNames shifts function indices >= first in the name section's function (1), local (2)
// and label (3) subsections and names the inserted functions. ok is false when the section does
// not parse.
func renumberNames(data []byte, first uint32, inserted []string) ([]byte, bool) {
	k := uint32(len(inserted))
	r := reader{b: data}
	var out []byte
	for !r.eof() {
		id, _ := r.byte()
		n, err := r.count(1)
		if err != nil {
			return nil, false
		}
		sub, _ := r.bytes(n)
		if id < 1 || id > 3 {
			out = append(AppendULEB(append(out, id), uint64(len(sub))), sub...)
			continue
		}
		sr := reader{b: sub}
		cnt, err := sr.count(2)
		if err != nil {
			return nil, false
		}
		var p []byte
		total := cnt
		if id == 1 {
			total += int(k)
		}
		p = AppendULEB(p, uint64(total))
		wroteInserted := id != 1
		writeInserted := func() {
			for j, s := range inserted {
				p = appendName(AppendULEB(p, uint64(first+uint32(j))), s)
			}
			wroteInserted = true
		}
		for j := 0; j < cnt; j++ {
			idx, err := sr.u32()
			if err != nil {
				return nil, false
			}
			if idx >= first {
				if !wroteInserted {
					writeInserted()
				}
				idx += k
			}
			p = AppendULEB(p, uint64(idx))
			if id == 1 {
				s, err := sr.name()
				if err != nil {
					return nil, false
				}
				p = appendName(p, s)
				continue
			}
			// Indirect name map: a name map of locals or labels follows.
			start := sr.pos
			c2, err := sr.count(2)
			if err != nil {
				return nil, false
			}
			for x := 0; x < c2; x++ {
				if _, err := sr.u32(); err != nil {
					return nil, false
				}
				if _, err := sr.name(); err != nil {
					return nil, false
				}
			}
			p = append(p, sr.b[start:sr.pos]...)
		}
		if !wroteInserted {
			writeInserted()
		}
		if !sr.eof() {
			return nil, false
		}
		out = append(AppendULEB(append(out, id), uint64(len(p))), p...)
	}
	return out, true
}

// AddGlobal appends a defined global and returns its index.
func (m *Module) AddGlobal(g Global) uint32 {
	m.Globals = append(m.Globals, g)
	m.present[SecGlobal] = true
	return m.NumImported(KindGlobal) + uint32(len(m.Globals)) - 1
}

// AddExport appends an export; it fails when the name is taken.
func (m *Module) AddExport(e Export) error {
	for _, x := range m.Exports {
		if x.Name == e.Name {
			return fmt.Errorf("%w: export %q already exists", ErrInconsistent, e.Name)
		}
	}
	m.Exports = append(m.Exports, e)
	m.present[SecExport] = true
	return nil
}

// DropNameSubsection removes subsection id from the name section, for passes that renumber an
// index space the subsection refers to. An unparsable name section is removed entirely.
func (m *Module) DropNameSubsection(id byte) {
	for i := 0; i < len(m.Customs); i++ {
		if m.Customs[i].Name != "name" {
			continue
		}
		r := reader{b: m.Customs[i].Data}
		var out []byte
		ok := true
		for !r.eof() {
			sid, _ := r.byte()
			n, err := r.count(1)
			if err != nil {
				ok = false
				break
			}
			sub, _ := r.bytes(n)
			if sid != id {
				out = append(AppendULEB(append(out, sid), uint64(len(sub))), sub...)
			}
		}
		if !ok {
			m.Customs = append(m.Customs[:i], m.Customs[i+1:]...)
			i--
			continue
		}
		m.Customs[i].Data = out
	}
}

// ConstI32 reports the value of a constant expression that is exactly "i32.const v; end".
func ConstI32(expr []byte) (int32, bool) {
	if len(expr) < 3 || expr[0] != byte(OpI32Const) || expr[len(expr)-1] != byte(OpEnd) {
		return 0, false
	}
	v, n, err := decodeSLEB(expr[1:], 32)
	if err != nil || n != len(expr)-2 {
		return 0, false
	}
	return int32(v), true
}

// ConstExprI32 returns the encoding of "i32.const v; end".
func ConstExprI32(v int32) []byte {
	return append(AppendSLEB([]byte{byte(OpI32Const)}, int64(v)), byte(OpEnd))
}

// ConstExprI64 returns the encoding of "i64.const v; end".
func ConstExprI64(v int64) []byte {
	return append(AppendSLEB([]byte{byte(OpI64Const)}, v), byte(OpEnd))
}
