package wasmbin

import (
	"errors"
	"fmt"
)

// ErrInconsistent is wrapped by Encode errors about an IR that cannot be encoded as is.
var ErrInconsistent = errors.New("inconsistent module")

// Encode writes m in the binary format. Sections and function bodies that were decoded and not
// changed are written back byte for byte (including padded LEB128 size fields), so that
// Encode(Decode(x)) == x for modules whose other LEB128 fields are minimal.
func Encode(m *Module) ([]byte, error) {
	if len(m.Funcs) != len(m.Code) {
		return nil, fmt.Errorf("%w: %d functions but %d bodies", ErrInconsistent, len(m.Funcs), len(m.Code))
	}
	size := 8
	for _, f := range m.Code {
		size += len(f.Body) + 8
	}
	for _, d := range m.Data {
		size += len(d.Init) + 8
	}
	out := make([]byte, 0, size+1024)
	out = append(out, magic...)
	var payload []byte
	// Custom sections that followed every known section stay last, after sections a pass may
	// have added; the name section always goes last, where tools such as wabt require it.
	trailing := func(c Custom) bool {
		return c.Name == "name" || (c.After != 0 && c.After == m.lastKnown)
	}
	emitCustoms := func(after byte) {
		for _, c := range m.Customs {
			if (after == 0xff && trailing(c)) || (after != 0xff && c.After == after && !trailing(c)) {
				payload = AppendULEB(payload[:0], uint64(len(c.Name)))
				payload = append(payload, c.Name...)
				payload = append(payload, c.Data...)
				out = appendSection(out, SecCustom, payload, c.sizeWidth)
			}
		}
	}
	emitCustoms(0)
	for _, id := range sectionOrder {
		p, ok, err := m.encodeSection(id, payload[:0])
		if err != nil {
			return nil, fmt.Errorf("section %d: %w", id, err)
		}
		if ok {
			out = appendSection(out, id, p, m.sizeWidth[id])
			payload = p
		}
		emitCustoms(id)
	}
	emitCustoms(0xff)
	return out, nil
}

func appendSection(out []byte, id byte, payload []byte, width int) []byte {
	out = append(out, id)
	out = AppendULEBWidth(out, uint64(len(payload)), width)
	return append(out, payload...)
}

func (m *Module) encodeSection(id byte, p []byte) ([]byte, bool, error) {
	present := m.present[id]
	switch id {
	case SecType:
		if !present && len(m.Types) == 0 {
			return nil, false, nil
		}
		p = AppendULEB(p, uint64(len(m.Types)))
		for _, t := range m.Types {
			p = append(p, 0x60)
			p = appendValTypes(p, t.Params)
			p = appendValTypes(p, t.Results)
		}
	case SecImport:
		if !present && len(m.Imports) == 0 {
			return nil, false, nil
		}
		p = AppendULEB(p, uint64(len(m.Imports)))
		for _, im := range m.Imports {
			p = appendName(appendName(p, im.Module), im.Name)
			p = append(p, im.Kind)
			switch im.Kind {
			case KindFunc:
				p = AppendULEB(p, uint64(im.Func))
			case KindTable:
				p = appendTable(p, im.Table)
			case KindMemory:
				p = appendLimits(p, im.Memory)
			case KindGlobal:
				p = appendGlobalType(p, im.Global)
			default:
				return nil, false, fmt.Errorf("%w: import kind %d", ErrInconsistent, im.Kind)
			}
		}
	case SecFunction:
		if !present && len(m.Funcs) == 0 {
			return nil, false, nil
		}
		p = AppendULEB(p, uint64(len(m.Funcs)))
		for _, t := range m.Funcs {
			p = AppendULEB(p, uint64(t))
		}
	case SecTable:
		if !present && len(m.Tables) == 0 {
			return nil, false, nil
		}
		p = AppendULEB(p, uint64(len(m.Tables)))
		for _, t := range m.Tables {
			p = appendTable(p, t)
		}
	case SecMemory:
		if !present && len(m.Memories) == 0 {
			return nil, false, nil
		}
		p = AppendULEB(p, uint64(len(m.Memories)))
		for _, l := range m.Memories {
			p = appendLimits(p, l)
		}
	case SecGlobal:
		if !present && len(m.Globals) == 0 {
			return nil, false, nil
		}
		p = AppendULEB(p, uint64(len(m.Globals)))
		for _, g := range m.Globals {
			p = append(appendGlobalType(p, g.Type), g.Init...)
		}
	case SecExport:
		if !present && len(m.Exports) == 0 {
			return nil, false, nil
		}
		p = AppendULEB(p, uint64(len(m.Exports)))
		for _, e := range m.Exports {
			p = AppendULEB(append(appendName(p, e.Name), e.Kind), uint64(e.Index))
		}
	case SecStart:
		if m.Start == nil {
			return nil, false, nil
		}
		p = AppendULEB(p, uint64(*m.Start))
	case SecElement:
		if !present && len(m.Elements) == 0 {
			return nil, false, nil
		}
		p = AppendULEB(p, uint64(len(m.Elements)))
		for i := range m.Elements {
			var err error
			if p, err = appendElement(p, &m.Elements[i]); err != nil {
				return nil, false, fmt.Errorf("element %d: %w", i, err)
			}
		}
	case SecDataCount:
		if m.DataCount == nil {
			return nil, false, nil
		}
		p = AppendULEB(p, uint64(*m.DataCount))
	case SecCode:
		if !present && len(m.Code) == 0 {
			return nil, false, nil
		}
		p = AppendULEB(p, uint64(len(m.Code)))
		var body []byte
		for i := range m.Code {
			f := &m.Code[i]
			if f.unchanged() {
				p = AppendULEBWidth(p, uint64(len(f.orig)), f.sizeWidth)
				p = append(p, f.orig...)
				continue
			}
			body = AppendULEB(body[:0], uint64(len(f.Locals)))
			for _, l := range f.Locals {
				body = append(AppendULEB(body, uint64(l.Count)), byte(l.Type))
			}
			body = append(body, f.Body...)
			p = AppendULEBWidth(p, uint64(len(body)), f.sizeWidth)
			p = append(p, body...)
		}
	case SecData:
		if !present && len(m.Data) == 0 {
			return nil, false, nil
		}
		p = AppendULEB(p, uint64(len(m.Data)))
		for i, d := range m.Data {
			p = AppendULEB(p, uint64(d.Flags))
			switch {
			case d.Flags == 0 && d.Mode == ModeActive && d.Memory == 0:
				p = append(p, d.Offset...)
			case d.Flags == 1 && d.Mode == ModePassive:
			case d.Flags == 2 && d.Mode == ModeActive:
				p = append(AppendULEB(p, uint64(d.Memory)), d.Offset...)
			default:
				return nil, false, fmt.Errorf("%w: data %d flags %d do not match its mode", ErrInconsistent, i, d.Flags)
			}
			p = append(AppendULEB(p, uint64(len(d.Init))), d.Init...)
		}
	}
	return p, true, nil
}

func (f *Func) unchanged() bool {
	if f.orig == nil || len(f.Body) != len(f.origCode) || len(f.Locals) != len(f.origLoc) {
		return false
	}
	if len(f.Body) > 0 && &f.Body[0] != &f.origCode[0] {
		return false
	}
	for i, l := range f.Locals {
		if l != f.origLoc[i] {
			return false
		}
	}
	return true
}

func appendElement(p []byte, e *Element) ([]byte, error) {
	f := e.Flags
	wantMode := ModeActive
	if f&1 != 0 {
		wantMode = ModePassive
		if f&2 != 0 {
			wantMode = ModeDeclarative
		}
	}
	if f > 7 || e.Mode != wantMode || (f&3 == 0 && e.Table != 0) || (f&4 == 0 && e.Exprs != nil) || (f&4 != 0 && e.Funcs != nil) {
		return nil, fmt.Errorf("%w: flags %d do not match the segment", ErrInconsistent, f)
	}
	p = AppendULEB(p, uint64(f))
	if f&3 == 2 {
		p = AppendULEB(p, uint64(e.Table))
	}
	if e.Mode == ModeActive {
		p = append(p, e.Offset...)
	}
	if f&3 != 0 {
		if f&4 == 0 {
			p = append(p, 0)
		} else {
			p = append(p, byte(e.Type))
		}
	}
	if f&4 == 0 {
		p = AppendULEB(p, uint64(len(e.Funcs)))
		for _, x := range e.Funcs {
			p = AppendULEB(p, uint64(x))
		}
		return p, nil
	}
	p = AppendULEB(p, uint64(len(e.Exprs)))
	for _, x := range e.Exprs {
		p = append(p, x...)
	}
	return p, nil
}

func appendName(p []byte, s string) []byte {
	return append(AppendULEB(p, uint64(len(s))), s...)
}

func appendValTypes(p []byte, v []ValType) []byte {
	p = AppendULEB(p, uint64(len(v)))
	for _, t := range v {
		p = append(p, byte(t))
	}
	return p
}

func appendLimits(p []byte, l Limits) []byte {
	if l.HasMax {
		return AppendULEB(AppendULEB(append(p, 1), uint64(l.Min)), uint64(l.Max))
	}
	return AppendULEB(append(p, 0), uint64(l.Min))
}

func appendTable(p []byte, t Table) []byte { return appendLimits(append(p, byte(t.Elem)), t.Limits) }

func appendGlobalType(p []byte, g GlobalType) []byte {
	mut := byte(0)
	if g.Mutable {
		mut = 1
	}
	return append(p, byte(g.Type), mut)
}
