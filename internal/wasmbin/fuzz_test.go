package wasmbin

import (
	"bytes"
	"os"
	"testing"
)

// FuzzDecode: Decode never panics, and whatever it accepts round-trips to the same IR.
func FuzzDecode(f *testing.F) {
	f.Add(oneFunc(0, 0x41, 1, 0x04, 0x40, 0x01, 0x05, 0x01, 0x0b, 0x0b))
	f.Add(oneFunc(1, 1, 0x7f, 0x02, 0x7f, 0x41, 0, 0x0e, 1, 0, 0, 0x0b, 0x1a, 0x0b))
	f.Add(module(section(SecMemory, 1, 0, 1), section(SecDataCount, 1), section(SecData, 1, 0, 0x41, 0, 0x0b, 2, 'h', 'i')))
	if files, err := specModulesMaybe(); err == nil {
		for i, p := range files {
			if i%25 != 0 { // a sample keeps seeding fast
				continue
			}
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := Decode(in)
		if err != nil {
			return
		}
		_ = m.CheckIndices()
		e1, err := Encode(m)
		if err != nil {
			t.Fatalf("encode of a decoded module: %v", err)
		}
		m2, err := Decode(e1)
		if err != nil {
			t.Fatalf("decode(encode(decode(x))): %v", err)
		}
		assertSameIR(t, "fuzz", m, m2)
		e2, err := Encode(m2)
		if err != nil || !bytes.Equal(e1, e2) {
			t.Fatalf("encodings differ after a second round trip: %v", err)
		}
	})
}

func specModulesMaybe() (files []string, err error) {
	defer func() {
		if r := recover(); r != nil {
			files, err = nil, os.ErrNotExist
		}
	}()
	return specModules(skipper{}), nil
}

// skipper lets specModules run outside a test; Skipf panics to abort it.
type skipper struct{ testing.TB }

func (skipper) Skipf(string, ...any) { panic("skip") }
