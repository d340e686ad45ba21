package wasmbin

import (
	"io"
	"math"
)

// Op is an opcode: a single byte, or prefix<<16|subopcode for the 0xFC and 0xFD prefixes.
type Op uint32

// Opcodes that passes inspect or emit. Every other MVP, sign-extension, saturating,
// bulk-memory, reference-type and SIMD opcode is decoded too.
const (
	OpUnreachable        Op = 0x00
	OpNop                Op = 0x01
	OpBlock              Op = 0x02
	OpLoop               Op = 0x03
	OpIf                 Op = 0x04
	OpElse               Op = 0x05
	OpEnd                Op = 0x0b
	OpBr                 Op = 0x0c
	OpBrIf               Op = 0x0d
	OpBrTable            Op = 0x0e
	OpReturn             Op = 0x0f
	OpCall               Op = 0x10
	OpCallIndirect       Op = 0x11
	OpReturnCall         Op = 0x12
	OpReturnCallIndirect Op = 0x13
	OpDrop               Op = 0x1a
	OpSelect             Op = 0x1b
	OpSelectT            Op = 0x1c
	OpLocalGet           Op = 0x20
	OpLocalSet           Op = 0x21
	OpLocalTee           Op = 0x22
	OpGlobalGet          Op = 0x23
	OpGlobalSet          Op = 0x24
	OpTableGet           Op = 0x25
	OpTableSet           Op = 0x26
	OpMemorySize         Op = 0x3f
	OpMemoryGrow         Op = 0x40
	OpI32Const           Op = 0x41
	OpI64Const           Op = 0x42
	OpF32Const           Op = 0x43
	OpF64Const           Op = 0x44
	OpI32Eqz             Op = 0x45
	OpI32Ne              Op = 0x47
	OpI32GtU             Op = 0x4b
	OpI64LtS             Op = 0x53
	OpI32Add             Op = 0x6a
	OpI32Sub             Op = 0x6b
	OpI64Add             Op = 0x7c
	OpI64Sub             Op = 0x7d
	OpI64Mul             Op = 0x7e
	OpI64ShrU            Op = 0x88
	OpI64ExtendI32U      Op = 0xad
	OpRefNull            Op = 0xd0
	OpRefIsNull          Op = 0xd1
	OpRefFunc            Op = 0xd2

	PrefixMisc Op = 0xfc << 16
	PrefixSIMD Op = 0xfd << 16

	OpMemoryInit Op = PrefixMisc | 8
	OpDataDrop   Op = PrefixMisc | 9
	OpMemoryCopy Op = PrefixMisc | 10
	OpMemoryFill Op = PrefixMisc | 11
	OpTableInit  Op = PrefixMisc | 12
	OpElemDrop   Op = PrefixMisc | 13
	OpTableCopy  Op = PrefixMisc | 14
	OpTableGrow  Op = PrefixMisc | 15
	OpTableSize  Op = PrefixMisc | 16
	OpTableFill  Op = PrefixMisc | 17
)

// BlockEmpty is the block type of a block without results; other negative block types are
// -(0x80-valtype) for a single result, non-negative ones are type indices.
const BlockEmpty int64 = -0x40

// BlockTypeOf returns the block type encoding a single result of type t.
func BlockTypeOf(t ValType) int64 { return int64(t) - 0x80 }

// Instr is one decoded instruction. Only the fields its opcode uses are set.
type Instr struct {
	Op Op
	// BlockType of block, loop and if (see BlockEmpty).
	BlockType int64
	// Index is the first index immediate: label (br, br_if; br_table default), function, local,
	// global, table, type (call_indirect), data (memory.init), element (table.init), memory.
	Index uint32
	// Index2 is the second index immediate: table of call_indirect, memory of memory.init,
	// table of table.init, source of memory.copy and table.copy.
	Index2 uint32
	// Labels are br_table's targets without the default; the slice is reused by the reader.
	Labels []uint32
	// Align and Offset are a memory access's memarg.
	Align, Offset uint32
	// Value holds constant bits: i32 (sign-extended) and i64 values, f32 and f64 bit patterns.
	Value uint64
	// Bytes holds v128.const and i8x16.shuffle immediates.
	Bytes [16]byte
	// Lane is a SIMD lane index.
	Lane byte
	// Types are select's explicit result types.
	Types []ValType
	// Start and End are the instruction's byte range in the body.
	Start, End int
}

// InstrReader decodes a function body or constant expression one instruction at a time and
// checks its block structure. It never panics and allocates at most O(len(body)).
type InstrReader struct {
	r      reader
	ctrl   []byte // open control kinds: OpBlock, OpLoop, OpIf, OpElse (an if past its else)
	done   bool
	labels []uint32
	types  []ValType
	// prefix makes the reader stop at the final end even when bytes follow (constant
	// expressions are read in place from a longer section).
	prefix bool
}

// NewInstrReader returns a reader over body, which must hold instructions through the final end
// of the implicit function block. base is added to error offsets.
func NewInstrReader(body []byte, base int) *InstrReader {
	return &InstrReader{r: reader{b: body, base: base}, ctrl: []byte{byte(OpBlock)}}
}

// Reset makes the reader decode body from its start, reusing buffers.
func (d *InstrReader) Reset(body []byte, base int) {
	d.r = reader{b: body, base: base}
	d.ctrl = append(d.ctrl[:0], byte(OpBlock))
	d.done = false
}

// Depth is the number of open control frames (the function's own frame counts; 0 after the
// final end). After reading block, loop or if it includes the new frame.
func (d *InstrReader) Depth() int { return len(d.ctrl) }

// Pos is the offset of the next instruction.
func (d *InstrReader) Pos() int { return d.r.pos }

// Next decodes the next instruction into in. It returns io.EOF after the final end, and an error
// wrapping ErrMalformed for malformed input, including bytes after the final end.
func (d *InstrReader) Next(in *Instr) error {
	if d.done {
		return io.EOF
	}
	r := &d.r
	start := r.pos
	if r.eof() {
		return malformedf("function body ends without end at offset %d", r.off())
	}
	b, _ := r.byte()
	*in = Instr{Op: Op(b), Start: start}
	var err error
	switch {
	case b == 0x02 || b == 0x03 || b == 0x04:
		in.BlockType, err = d.blockType()
		d.ctrl = append(d.ctrl, b)
	case b == 0x05:
		if d.ctrl[len(d.ctrl)-1] != byte(OpIf) {
			return malformedf("else without if at offset %d", r.base+start)
		}
		d.ctrl[len(d.ctrl)-1] = byte(OpElse)
	case b == 0x0b:
		d.ctrl = d.ctrl[:len(d.ctrl)-1]
		if len(d.ctrl) == 0 {
			d.done = true
			if !r.eof() && !d.prefix {
				return malformedf("%d bytes after the end of a function body at offset %d", r.remaining(), r.off())
			}
		}
	case b == 0x00 || b == 0x01 || b == 0x0f || b == 0x1a || b == 0x1b || b == 0xd1 || (b >= 0x45 && b <= 0xc4):
	case b == 0x0c || b == 0x0d || b == 0x10 || b == 0x12 || (b >= 0x20 && b <= 0x26) || b == 0xd2:
		in.Index, err = r.u32()
	case b == 0x0e:
		var n int
		if n, err = r.count(1); err != nil {
			return err
		}
		d.labels = d.labels[:0]
		for i := 0; i < n; i++ {
			l, err := r.u32()
			if err != nil {
				return err
			}
			d.labels = append(d.labels, l)
		}
		in.Labels = d.labels
		in.Index, err = r.u32()
	case b == 0x11 || b == 0x13:
		if in.Index, err = r.u32(); err == nil {
			in.Index2, err = r.u32()
		}
	case b == 0x1c:
		var n int
		if n, err = r.count(1); err != nil {
			return err
		}
		d.types = d.types[:0]
		for i := 0; i < n; i++ {
			t, err := r.byte()
			if err != nil {
				return err
			}
			if !ValType(t).valid() {
				return malformedf("invalid value type 0x%x at offset %d", t, r.off()-1)
			}
			d.types = append(d.types, ValType(t))
		}
		in.Types = d.types
	case b >= 0x28 && b <= 0x3e:
		err = d.memarg(in)
	case b == 0x3f || b == 0x40:
		in.Index, err = r.u32()
	case b == 0x41:
		var v int64
		v, err = r.sleb(32)
		in.Value = uint64(v)
	case b == 0x42:
		var v int64
		v, err = r.sleb(64)
		in.Value = uint64(v)
	case b == 0x43:
		var p []byte
		if p, err = r.bytes(4); err == nil {
			in.Value = uint64(p[0]) | uint64(p[1])<<8 | uint64(p[2])<<16 | uint64(p[3])<<24
		}
	case b == 0x44:
		var p []byte
		if p, err = r.bytes(8); err == nil {
			for i := 7; i >= 0; i-- {
				in.Value = in.Value<<8 | uint64(p[i])
			}
		}
	case b == 0xd0:
		var t byte
		if t, err = r.byte(); err == nil && !ValType(t).isRef() {
			err = malformedf("invalid reference type 0x%x at offset %d", t, r.off()-1)
		}
		in.Index = uint32(t)
	case b == 0xfc:
		err = d.misc(in)
	case b == 0xfd:
		err = d.simd(in)
	default:
		return malformedf("unknown opcode 0x%02x at offset %d", b, r.base+start)
	}
	if err != nil {
		return err
	}
	in.End = r.pos
	return nil
}

func (d *InstrReader) blockType() (int64, error) {
	off := d.r.off()
	v, err := d.r.sleb(33)
	if err != nil {
		return 0, err
	}
	if v < 0 && v != BlockEmpty && !ValType(v+0x80).valid() {
		return 0, malformedf("invalid block type at offset %d", off)
	}
	if v > math.MaxUint32 {
		return 0, malformedf("block type index too large at offset %d", off)
	}
	return v, nil
}

func (d *InstrReader) memarg(in *Instr) (err error) {
	if in.Align, err = d.r.u32(); err != nil {
		return err
	}
	in.Offset, err = d.r.u32()
	return err
}

func (d *InstrReader) misc(in *Instr) error {
	r := &d.r
	off := r.off()
	sub, err := r.u32()
	if err != nil {
		return err
	}
	in.Op = PrefixMisc | Op(sub)
	switch {
	case sub <= 7:
		return nil
	case sub == 8 || sub == 12 || sub == 14 || sub == 10:
		if in.Index, err = r.u32(); err != nil {
			return err
		}
		in.Index2, err = r.u32()
		return err
	case sub == 9 || sub == 11 || sub == 13 || sub == 15 || sub == 16 || sub == 17:
		in.Index, err = r.u32()
		return err
	}
	return malformedf("unknown opcode 0xfc %d at offset %d", sub, off)
}

func (d *InstrReader) simd(in *Instr) error {
	r := &d.r
	off := r.off()
	sub, err := r.u32()
	if err != nil {
		return err
	}
	in.Op = PrefixSIMD | Op(sub)
	switch {
	case sub <= 0x0b || sub == 0x5c || sub == 0x5d:
		return d.memarg(in)
	case sub == 0x0c || sub == 0x0d:
		p, err := r.bytes(16)
		if err != nil {
			return err
		}
		copy(in.Bytes[:], p)
		return nil
	case sub >= 0x15 && sub <= 0x22:
		in.Lane, err = r.byte()
		return err
	case sub >= 0x54 && sub <= 0x5b:
		if err := d.memarg(in); err != nil {
			return err
		}
		in.Lane, err = r.byte()
		return err
	case sub <= 0x113:
		return nil
	}
	return malformedf("unknown opcode 0xfd %d at offset %d", sub, off)
}

// AppendInstr appends the canonical (minimal LEB128) encoding of in.
func AppendInstr(dst []byte, in *Instr) []byte {
	op := in.Op
	switch op >> 16 {
	case 0xfc:
		dst = AppendULEB(append(dst, 0xfc), uint64(op&0xffff))
		sub := op & 0xffff
		switch {
		case sub <= 7:
		case sub == 8 || sub == 12 || sub == 14 || sub == 10:
			dst = AppendULEB(AppendULEB(dst, uint64(in.Index)), uint64(in.Index2))
		default:
			dst = AppendULEB(dst, uint64(in.Index))
		}
		return dst
	case 0xfd:
		dst = AppendULEB(append(dst, 0xfd), uint64(op&0xffff))
		sub := op & 0xffff
		switch {
		case sub <= 0x0b || sub == 0x5c || sub == 0x5d:
			dst = AppendULEB(AppendULEB(dst, uint64(in.Align)), uint64(in.Offset))
		case sub == 0x0c || sub == 0x0d:
			dst = append(dst, in.Bytes[:]...)
		case sub >= 0x15 && sub <= 0x22:
			dst = append(dst, in.Lane)
		case sub >= 0x54 && sub <= 0x5b:
			dst = append(AppendULEB(AppendULEB(dst, uint64(in.Align)), uint64(in.Offset)), in.Lane)
		}
		return dst
	}
	b := byte(op)
	dst = append(dst, b)
	switch {
	case b == 0x02 || b == 0x03 || b == 0x04:
		dst = AppendSLEB(dst, in.BlockType)
	case b == 0x0c || b == 0x0d || b == 0x10 || b == 0x12 || (b >= 0x20 && b <= 0x26) || b == 0xd2 || b == 0x3f || b == 0x40:
		dst = AppendULEB(dst, uint64(in.Index))
	case b == 0x0e:
		dst = AppendULEB(dst, uint64(len(in.Labels)))
		for _, l := range in.Labels {
			dst = AppendULEB(dst, uint64(l))
		}
		dst = AppendULEB(dst, uint64(in.Index))
	case b == 0x11 || b == 0x13:
		dst = AppendULEB(AppendULEB(dst, uint64(in.Index)), uint64(in.Index2))
	case b == 0x1c:
		dst = AppendULEB(dst, uint64(len(in.Types)))
		for _, t := range in.Types {
			dst = append(dst, byte(t))
		}
	case b >= 0x28 && b <= 0x3e:
		dst = AppendULEB(AppendULEB(dst, uint64(in.Align)), uint64(in.Offset))
	case b == 0x41:
		dst = AppendSLEB(dst, int64(int32(in.Value)))
	case b == 0x42:
		dst = AppendSLEB(dst, int64(in.Value))
	case b == 0x43:
		v := uint32(in.Value)
		dst = append(dst, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
	case b == 0x44:
		v := in.Value
		for i := 0; i < 8; i++ {
			dst = append(dst, byte(v>>(8*i)))
		}
	case b == 0xd0:
		dst = append(dst, byte(in.Index))
	}
	return dst
}
