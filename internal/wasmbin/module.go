package wasmbin

// ValType is a value type byte as encoded in the binary format.
type ValType byte

// Value types.
const (
	I32       ValType = 0x7f
	I64       ValType = 0x7e
	F32       ValType = 0x7d
	F64       ValType = 0x7c
	V128      ValType = 0x7b
	FuncRef   ValType = 0x70
	ExternRef ValType = 0x6f
)

func (t ValType) valid() bool {
	switch t {
	case I32, I64, F32, F64, V128, FuncRef, ExternRef:
		return true
	}
	return false
}

func (t ValType) isRef() bool { return t == FuncRef || t == ExternRef }

// External kinds used by imports and exports.
const (
	KindFunc   byte = 0
	KindTable  byte = 1
	KindMemory byte = 2
	KindGlobal byte = 3
)

// Section ids.
const (
	SecCustom    byte = 0
	SecType      byte = 1
	SecImport    byte = 2
	SecFunction  byte = 3
	SecTable     byte = 4
	SecMemory    byte = 5
	SecGlobal    byte = 6
	SecExport    byte = 7
	SecStart     byte = 8
	SecElement   byte = 9
	SecCode      byte = 10
	SecData      byte = 11
	SecDataCount byte = 12
)

// sectionOrder is the order in which known sections must appear; the data count section sits
// between element and code.
var sectionOrder = [...]byte{SecType, SecImport, SecFunction, SecTable, SecMemory, SecGlobal,
	SecExport, SecStart, SecElement, SecDataCount, SecCode, SecData}

func orderOf(id byte) int {
	for i, s := range sectionOrder {
		if s == id {
			return i + 1
		}
	}
	return -1
}

// FuncType is a function signature.
type FuncType struct {
	Params, Results []ValType
}

// Equal reports whether two signatures are the same.
func (t FuncType) Equal(o FuncType) bool {
	return string(valBytes(t.Params)) == string(valBytes(o.Params)) &&
		string(valBytes(t.Results)) == string(valBytes(o.Results))
}

func valBytes(v []ValType) []byte {
	b := make([]byte, len(v))
	for i, t := range v {
		b[i] = byte(t)
	}
	return b
}

// Limits are the size bounds of a table or memory.
type Limits struct {
	Min, Max uint32
	HasMax   bool
}

// Table is a table type.
type Table struct {
	Elem   ValType
	Limits Limits
}

// GlobalType is a global's value type and mutability.
type GlobalType struct {
	Type    ValType
	Mutable bool
}

// Import is one entry of the import section; which of Func, Table, Memory, Global is meaningful
// depends on Kind.
type Import struct {
	Module, Name string
	Kind         byte
	Func         uint32 // type index
	Table        Table
	Memory       Limits
	Global       GlobalType
}

// Global is a defined global with its constant initializer (raw bytes, including the final end).
type Global struct {
	Type GlobalType
	Init []byte
}

// Export is one entry of the export section.
type Export struct {
	Name  string
	Kind  byte
	Index uint32
}

// Segment modes of element and data segments.
const (
	ModeActive      = 0
	ModePassive     = 1
	ModeDeclarative = 2
)

// Element is an element segment. Flags keeps the binary form (0-7) so that re-encoding is
// byte-identical; exactly one of Funcs (flags 0-3) and Exprs (flags 4-7) is used.
type Element struct {
	Flags  uint32
	Mode   int
	Table  uint32
	Offset []byte // constant expression, active segments only
	Type   ValType
	Funcs  []uint32
	Exprs  [][]byte
}

// Data is a data segment. Flags keeps the binary form (0-2).
type Data struct {
	Flags  uint32
	Mode   int // ModeActive or ModePassive
	Memory uint32
	Offset []byte // constant expression, active segments only
	Init   []byte
}

// Local is a run of Count locals of one type, as declared in a function body.
type Local struct {
	Count uint32
	Type  ValType
}

// Func is a function body: its local declarations and its instruction bytes, including the
// final end. Passes replace Body with a new slice rather than editing it in place; the encoder
// writes the original bytes back unchanged when Locals and Body are untouched.
type Func struct {
	Locals []Local
	Body   []byte

	orig      []byte // original body bytes (locals and code) when decoded
	origCode  []byte // the Body slice handed out by the decoder
	origLoc   []Local
	sizeWidth int
}

// NumLocals returns the number of declared locals (excluding parameters).
func (f *Func) NumLocals() uint64 {
	var n uint64
	for _, l := range f.Locals {
		n += uint64(l.Count)
	}
	return n
}

// Custom is a custom section. After records the known section it followed (0 when it came
// before every known section), so that it is written back in the same place.
type Custom struct {
	Name  string
	Data  []byte
	After byte

	sizeWidth int
}

// Module is a decoded WebAssembly module. Index spaces follow the spec: imported functions,
// tables, memories and globals come before the defined ones.
type Module struct {
	Types     []FuncType
	Imports   []Import
	Funcs     []uint32 // type index of each defined function
	Tables    []Table
	Memories  []Limits
	Globals   []Global
	Exports   []Export
	Start     *uint32
	Elements  []Element
	DataCount *uint32
	Code      []Func
	Data      []Data
	Customs   []Custom

	// present records sections that appeared (possibly empty) so empty ones are kept.
	present [13]bool
	// sizeWidth records the LEB128 width of each section's size field.
	sizeWidth [13]int
	// lastKnown is the id of the last known section decoded (0 if none).
	lastKnown byte
}

// NumImported returns how many imports of the given kind the module has.
func (m *Module) NumImported(kind byte) uint32 {
	var n uint32
	for _, im := range m.Imports {
		if im.Kind == kind {
			n++
		}
	}
	return n
}

// FuncType returns the signature of function index idx (imported or defined).
func (m *Module) FuncType(idx uint32) (FuncType, bool) {
	var n uint32
	for _, im := range m.Imports {
		if im.Kind == KindFunc {
			if n == idx {
				return m.typeAt(im.Func)
			}
			n++
		}
	}
	d := uint64(idx) - uint64(n)
	if d >= uint64(len(m.Funcs)) {
		return FuncType{}, false
	}
	return m.typeAt(m.Funcs[d])
}

func (m *Module) typeAt(i uint32) (FuncType, bool) {
	if uint64(i) >= uint64(len(m.Types)) {
		return FuncType{}, false
	}
	return m.Types[i], true
}

// TypeIndex returns the index of an existing type equal to t, appending it when absent.
func (m *Module) TypeIndex(t FuncType) uint32 {
	for i, x := range m.Types {
		if x.Equal(t) {
			return uint32(i)
		}
	}
	m.Types = append(m.Types, t)
	m.present[SecType] = true
	return uint32(len(m.Types) - 1)
}
