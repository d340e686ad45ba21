package wasmbin

import (
	"bytes"
	"fmt"
)

// Limits on what Decode accepts beyond what the input size already bounds.
const (
	// MaxLocals bounds the locals one function may declare (V8 and SpiderMonkey use the same);
	// local declarations are kept run-length encoded, so this bounds consumers, not Decode.
	MaxLocals = 50000
	// MaxModuleSize bounds the input of Decode.
	MaxModuleSize = 1 << 30
)

var magic = []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}

// Decode parses a binary module. It checks the binary format (section order and sizes, LEB128
// encodings, instruction immediates and block nesting) but does not type-check. The returned
// module does not alias b.
func Decode(b []byte) (*Module, error) {
	if len(b) > MaxModuleSize {
		return nil, fmt.Errorf("%w: %d bytes > %d", ErrTooLarge, len(b), MaxModuleSize)
	}
	if len(b) < 8 || !bytes.Equal(b[:4], magic[:4]) {
		return nil, malformedf("magic header not detected")
	}
	if !bytes.Equal(b[4:8], magic[4:]) {
		return nil, malformedf("unknown binary version")
	}
	b = bytes.Clone(b)
	m := &Module{}
	r := reader{b: b, pos: 8}
	last := 0 // order of the last known section
	var lastID byte
	var funcCount = -1
	for !r.eof() {
		id, _ := r.byte()
		sizeStart := r.pos
		size, err := r.u32()
		if err != nil {
			return nil, fmt.Errorf("section size: %w", err)
		}
		width := r.pos - sizeStart
		payload, err := r.bytes(int(size))
		if err != nil {
			return nil, fmt.Errorf("section %d: %w", id, err)
		}
		sr := reader{b: payload, base: r.off() - int(size)}
		if id == SecCustom {
			name, err := sr.name()
			if err != nil {
				return nil, fmt.Errorf("custom section: %w", err)
			}
			m.Customs = append(m.Customs, Custom{Name: name, Data: payload[sr.pos:], After: lastID, sizeWidth: width})
			continue
		}
		o := orderOf(id)
		if o < 0 {
			return nil, malformedf("unknown section id %d", id)
		}
		if o <= last {
			return nil, malformedf("section %d out of order or duplicated", id)
		}
		last, lastID = o, id
		m.lastKnown = id
		m.present[id] = true
		m.sizeWidth[id] = width
		if err := m.decodeSection(id, &sr, &funcCount); err != nil {
			return nil, fmt.Errorf("section %d: %w", id, err)
		}
		if !sr.eof() {
			return nil, malformedf("section %d size mismatch: %d bytes unread", id, sr.remaining())
		}
	}
	if funcCount >= 0 && funcCount != len(m.Code) {
		return nil, malformedf("function and code section have inconsistent lengths")
	}
	if funcCount < 0 && len(m.Code) > 0 {
		return nil, malformedf("function and code section have inconsistent lengths")
	}
	if m.DataCount != nil && int(*m.DataCount) != len(m.Data) {
		return nil, malformedf("data count and data section have inconsistent lengths")
	}
	return m, nil
}

func (m *Module) decodeSection(id byte, r *reader, funcCount *int) error {
	switch id {
	case SecType:
		n, err := r.count(3)
		if err != nil {
			return err
		}
		m.Types = make([]FuncType, 0, n)
		for i := 0; i < n; i++ {
			if c, err := r.byte(); err != nil {
				return err
			} else if c != 0x60 {
				return malformedf("malformed function type form 0x%x", c)
			}
			p, err := r.valTypes()
			if err != nil {
				return err
			}
			res, err := r.valTypes()
			if err != nil {
				return err
			}
			m.Types = append(m.Types, FuncType{Params: p, Results: res})
		}
	case SecImport:
		n, err := r.count(4)
		if err != nil {
			return err
		}
		m.Imports = make([]Import, 0, n)
		for i := 0; i < n; i++ {
			var im Import
			if im.Module, err = r.name(); err != nil {
				return err
			}
			if im.Name, err = r.name(); err != nil {
				return err
			}
			if im.Kind, err = r.byte(); err != nil {
				return err
			}
			switch im.Kind {
			case KindFunc:
				im.Func, err = r.u32()
			case KindTable:
				im.Table, err = r.table()
			case KindMemory:
				im.Memory, err = r.limits()
			case KindGlobal:
				im.Global, err = r.globalType()
			default:
				err = malformedf("malformed import kind %d", im.Kind)
			}
			if err != nil {
				return err
			}
			m.Imports = append(m.Imports, im)
		}
	case SecFunction:
		n, err := r.count(1)
		if err != nil {
			return err
		}
		m.Funcs = make([]uint32, 0, n)
		for i := 0; i < n; i++ {
			t, err := r.u32()
			if err != nil {
				return err
			}
			m.Funcs = append(m.Funcs, t)
		}
		*funcCount = n
	case SecTable:
		n, err := r.count(3)
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			t, err := r.table()
			if err != nil {
				return err
			}
			m.Tables = append(m.Tables, t)
		}
	case SecMemory:
		n, err := r.count(2)
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			l, err := r.limits()
			if err != nil {
				return err
			}
			m.Memories = append(m.Memories, l)
		}
	case SecGlobal:
		n, err := r.count(4)
		if err != nil {
			return err
		}
		m.Globals = make([]Global, 0, n)
		for i := 0; i < n; i++ {
			gt, err := r.globalType()
			if err != nil {
				return err
			}
			e, err := r.constExpr()
			if err != nil {
				return err
			}
			m.Globals = append(m.Globals, Global{Type: gt, Init: e})
		}
	case SecExport:
		n, err := r.count(3)
		if err != nil {
			return err
		}
		m.Exports = make([]Export, 0, n)
		for i := 0; i < n; i++ {
			var e Export
			if e.Name, err = r.name(); err != nil {
				return err
			}
			if e.Kind, err = r.byte(); err != nil {
				return err
			}
			if e.Kind > KindGlobal {
				return malformedf("malformed export kind %d", e.Kind)
			}
			if e.Index, err = r.u32(); err != nil {
				return err
			}
			m.Exports = append(m.Exports, e)
		}
	case SecStart:
		s, err := r.u32()
		if err != nil {
			return err
		}
		m.Start = &s
	case SecElement:
		n, err := r.count(3)
		if err != nil {
			return err
		}
		m.Elements = make([]Element, 0, n)
		for i := 0; i < n; i++ {
			e, err := r.element()
			if err != nil {
				return fmt.Errorf("element %d: %w", i, err)
			}
			m.Elements = append(m.Elements, e)
		}
	case SecDataCount:
		c, err := r.u32()
		if err != nil {
			return err
		}
		m.DataCount = &c
	case SecCode:
		n, err := r.count(2)
		if err != nil {
			return err
		}
		m.Code = make([]Func, 0, n)
		ir := NewInstrReader(nil, 0)
		for i := 0; i < n; i++ {
			f, err := r.funcBody(ir)
			if err != nil {
				return fmt.Errorf("function %d: %w", i, err)
			}
			m.Code = append(m.Code, f)
		}
	case SecData:
		n, err := r.count(2)
		if err != nil {
			return err
		}
		m.Data = make([]Data, 0, n)
		for i := 0; i < n; i++ {
			d, err := r.data()
			if err != nil {
				return fmt.Errorf("data %d: %w", i, err)
			}
			m.Data = append(m.Data, d)
		}
	}
	return nil
}

func (r *reader) valTypes() ([]ValType, error) {
	n, err := r.count(1)
	if err != nil {
		return nil, err
	}
	v := make([]ValType, n)
	for i := range v {
		c, _ := r.byte()
		if !ValType(c).valid() {
			return nil, malformedf("invalid value type 0x%x at offset %d", c, r.off()-1)
		}
		v[i] = ValType(c)
	}
	return v, nil
}

func (r *reader) limits() (Limits, error) {
	var l Limits
	flag, err := r.byte()
	if err != nil {
		return l, err
	}
	if flag > 1 {
		return l, malformedf("integer too large or unsupported limits flag 0x%x at offset %d", flag, r.off()-1)
	}
	if l.Min, err = r.u32(); err != nil {
		return l, err
	}
	if flag == 1 {
		l.HasMax = true
		l.Max, err = r.u32()
	}
	return l, err
}

func (r *reader) table() (Table, error) {
	t, err := r.byte()
	if err != nil {
		return Table{}, err
	}
	if !ValType(t).isRef() {
		return Table{}, malformedf("malformed reference type 0x%x at offset %d", t, r.off()-1)
	}
	l, err := r.limits()
	return Table{Elem: ValType(t), Limits: l}, err
}

func (r *reader) globalType() (GlobalType, error) {
	t, err := r.byte()
	if err != nil {
		return GlobalType{}, err
	}
	if !ValType(t).valid() {
		return GlobalType{}, malformedf("invalid value type 0x%x at offset %d", t, r.off()-1)
	}
	mut, err := r.byte()
	if err != nil {
		return GlobalType{}, err
	}
	if mut > 1 {
		return GlobalType{}, malformedf("malformed mutability 0x%x at offset %d", mut, r.off()-1)
	}
	return GlobalType{Type: ValType(t), Mutable: mut == 1}, nil
}

// constExpr reads an expression through its end and returns its raw bytes.
func (r *reader) constExpr() ([]byte, error) {
	ir := NewInstrReader(r.b[r.pos:], r.off())
	ir.prefix = true
	var in Instr
	for {
		err := ir.Next(&in)
		if err != nil {
			return nil, err
		}
		if ir.Depth() == 0 {
			break
		}
	}
	return r.bytes(ir.Pos())
}

func (r *reader) element() (Element, error) {
	var e Element
	flags, err := r.u32()
	if err != nil {
		return e, err
	}
	if flags > 7 {
		return e, malformedf("malformed elements segment kind %d", flags)
	}
	e.Flags = flags
	switch {
	case flags&1 == 0:
		e.Mode = ModeActive
	case flags&2 == 0:
		e.Mode = ModePassive
	default:
		e.Mode = ModeDeclarative
	}
	if flags&3 == 2 {
		if e.Table, err = r.u32(); err != nil {
			return e, err
		}
	}
	if e.Mode == ModeActive {
		if e.Offset, err = r.constExpr(); err != nil {
			return e, err
		}
	}
	e.Type = FuncRef
	if flags&3 != 0 { // elemkind or reftype present
		t, err := r.byte()
		if err != nil {
			return e, err
		}
		if flags&4 == 0 {
			if t != 0 {
				return e, malformedf("malformed element kind 0x%x", t)
			}
		} else {
			if !ValType(t).isRef() {
				return e, malformedf("malformed reference type 0x%x", t)
			}
			e.Type = ValType(t)
		}
	}
	if flags&4 == 0 {
		n, err := r.count(1)
		if err != nil {
			return e, err
		}
		e.Funcs = make([]uint32, 0, n)
		for i := 0; i < n; i++ {
			f, err := r.u32()
			if err != nil {
				return e, err
			}
			e.Funcs = append(e.Funcs, f)
		}
		return e, nil
	}
	n, err := r.count(2)
	if err != nil {
		return e, err
	}
	e.Exprs = make([][]byte, 0, n)
	for i := 0; i < n; i++ {
		x, err := r.constExpr()
		if err != nil {
			return e, err
		}
		e.Exprs = append(e.Exprs, x)
	}
	return e, nil
}

func (r *reader) data() (Data, error) {
	var d Data
	flags, err := r.u32()
	if err != nil {
		return d, err
	}
	if flags > 2 {
		return d, malformedf("malformed data segment kind %d", flags)
	}
	d.Flags = flags
	if flags == 1 {
		d.Mode = ModePassive
	} else {
		if flags == 2 {
			if d.Memory, err = r.u32(); err != nil {
				return d, err
			}
		}
		if d.Offset, err = r.constExpr(); err != nil {
			return d, err
		}
	}
	n, err := r.count(1)
	if err != nil {
		return d, err
	}
	d.Init, err = r.bytes(n)
	return d, err
}

func (r *reader) funcBody(ir *InstrReader) (Func, error) {
	var f Func
	sizeStart := r.pos
	size, err := r.u32()
	if err != nil {
		return f, err
	}
	f.sizeWidth = r.pos - sizeStart
	base := r.off()
	body, err := r.bytes(int(size))
	if err != nil {
		return f, err
	}
	br := reader{b: body, base: base}
	n, err := br.count(2)
	if err != nil {
		return f, err
	}
	var total uint64
	for i := 0; i < n; i++ {
		c, err := br.u32()
		if err != nil {
			return f, err
		}
		t, err := br.byte()
		if err != nil {
			return f, err
		}
		if !ValType(t).valid() {
			return f, malformedf("invalid local type 0x%x", t)
		}
		total += uint64(c)
		if total > MaxLocals {
			return f, fmt.Errorf("%w: too many locals (more than %d)", ErrTooLarge, MaxLocals)
		}
		f.Locals = append(f.Locals, Local{Count: c, Type: ValType(t)})
	}
	code := body[br.pos:]
	ir.Reset(code, br.off())
	var in Instr
	for {
		if err := ir.Next(&in); err != nil {
			return f, err
		}
		if ir.done {
			break
		}
	}
	f.Body = code
	f.orig = body
	f.origCode = code
	f.origLoc = append([]Local(nil), f.Locals...)
	return f, nil
}
