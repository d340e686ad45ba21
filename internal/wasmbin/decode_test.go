package wasmbin

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func module(sections ...[]byte) []byte {
	b := append([]byte(nil), magic...)
	for _, s := range sections {
		b = append(b, s...)
	}
	return b
}

func section(id byte, payload ...byte) []byte {
	return append(AppendULEB([]byte{id}, uint64(len(payload))), payload...)
}

// oneFunc wraps one function body (locals and code) in type, function and code sections.
func oneFunc(body ...byte) []byte {
	entry := append(AppendULEB(nil, uint64(len(body))), body...)
	return module(
		section(SecType, 1, 0x60, 0, 0),
		section(SecFunction, 1, 0),
		section(SecCode, append([]byte{1}, entry...)...),
	)
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"bad magic", []byte("\x00asn\x01\x00\x00\x00"), ErrMalformed},
		{"bad version", []byte("\x00asm\x02\x00\x00\x00"), ErrMalformed},
		{"section past end", module([]byte{SecType, 10, 0}), ErrMalformed},
		{"unknown section", module(section(13)), ErrMalformed},
		{"out of order", module(section(SecFunction, 0), section(SecType, 0)), ErrMalformed},
		{"duplicate", module(section(SecType, 0), section(SecType, 0)), ErrMalformed},
		{"huge vector count", module(section(SecType, 0xff, 0xff, 0xff, 0xff, 0x0f)), ErrMalformed},
		{"huge import count", module(section(SecImport, 0xfe, 0xff, 0xff, 0xff, 0x0f, 0)), ErrMalformed},
		{"2^32 locals", oneFunc(2, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x7e, 0x0b), ErrTooLarge},
		{"too many locals", oneFunc(1, 0xd1, 0x86, 0x03, 0x7f, 0x0b), ErrTooLarge},
		{"function without end", oneFunc(0, 0x01), ErrMalformed},
		{"bytes after end", oneFunc(0, 0x0b, 0x01), ErrMalformed},
		{"unknown opcode", oneFunc(0, 0xff, 0x0b), ErrMalformed},
		{"unknown 0xfc opcode", oneFunc(0, 0xfc, 18, 0x0b), ErrMalformed},
		{"else without if", oneFunc(0, 0x02, 0x40, 0x05, 0x0b, 0x0b), ErrMalformed},
		{"bad block type", oneFunc(0, 0x02, 0x50, 0x0b, 0x0b), ErrMalformed},
		{"huge br_table", oneFunc(0, 0x41, 0, 0x0e, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x0b), ErrMalformed},
		{"function without body", module(section(SecType, 1, 0x60, 0, 0), section(SecFunction, 1, 0)), ErrMalformed},
		{"overlong i32.const", oneFunc(0, 0x41, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x1a, 0x0b), ErrMalformed},
		{"bad utf-8 name", module(section(SecCustom, 2, 0xc0, 0x80)), ErrMalformed},
		{"data count mismatch", module(section(SecDataCount, 1)), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode = %v, %v; want %v", m, err, tt.want)
			}
		})
	}
}

// TestDecodeBoundedAllocation checks that a hostile count cannot make Decode allocate beyond a
// small multiple of its input.
func TestDecodeBoundedAllocation(t *testing.T) {
	hostile := [][]byte{
		module(section(SecType, 0xff, 0xff, 0xff, 0xff, 0x0f)),
		oneFunc(2, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x7e, 0x0b),
		module(section(SecData, 1, 1, 0xff, 0xff, 0xff, 0xff, 0x0f)),
		module(section(SecCode, 0xff, 0xff, 0xff, 0xff, 0x0f)),
	}
	for _, in := range hostile {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := Decode(in)
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Fatalf("Decode(%x) accepted a hostile module", in)
		}
		if d := after.TotalAlloc - before.TotalAlloc; d > 64<<10 {
			t.Fatalf("Decode(%x) allocated %d bytes", in, d)
		}
	}
}

// TestRoundTripSpecModules decodes every binary module of the spec testsuite shipped with
// wazero: whatever decodes must re-encode to a module that decodes to the same IR.
func TestRoundTripSpecModules(t *testing.T) {
	files := specModules(t)
	var decoded, identical int
	for _, f := range files {
		in, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Decode(in)
		if err != nil {
			continue // malformed on purpose (assert_malformed modules)
		}
		decoded++
		e1, err := Encode(m)
		if err != nil {
			t.Fatalf("%s: encode: %v", f, err)
		}
		if bytes.Equal(e1, in) {
			identical++
		}
		m2, err := Decode(e1)
		if err != nil {
			t.Fatalf("%s: decode(encode(decode(x))): %v", f, err)
		}
		e2, err := Encode(m2)
		if err != nil || !bytes.Equal(e1, e2) {
			t.Fatalf("%s: second round trip differs: %v", f, err)
		}
		assertSameIR(t, f, m, m2)
	}
	t.Logf("%d spec modules, %d decoded, %d re-encoded byte-identical", len(files), decoded, identical)
	if decoded == 0 {
		t.Fatal("no spec module decoded")
	}
}

func assertSameIR(t *testing.T, name string, a, b *Module) {
	t.Helper()
	if len(a.Types) != len(b.Types) || len(a.Imports) != len(b.Imports) || len(a.Code) != len(b.Code) ||
		len(a.Data) != len(b.Data) || len(a.Elements) != len(b.Elements) || len(a.Exports) != len(b.Exports) ||
		len(a.Globals) != len(b.Globals) || len(a.Customs) != len(b.Customs) {
		t.Fatalf("%s: IR shapes differ after a round trip", name)
	}
	for i := range a.Code {
		if !bytes.Equal(a.Code[i].Body, b.Code[i].Body) || len(a.Code[i].Locals) != len(b.Code[i].Locals) {
			t.Fatalf("%s: function %d differs after a round trip", name, i)
		}
	}
	for i := range a.Data {
		if !bytes.Equal(a.Data[i].Init, b.Data[i].Init) || !bytes.Equal(a.Data[i].Offset, b.Data[i].Offset) {
			t.Fatalf("%s: data %d differs after a round trip", name, i)
		}
	}
	for i := range a.Types {
		if !a.Types[i].Equal(b.Types[i]) {
			t.Fatalf("%s: type %d differs after a round trip", name, i)
		}
	}
}

func specModules(t testing.TB) []string {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/tetratelabs/wazero").Output()
	if err != nil {
		t.Skipf("cannot locate the wazero module: %v", err)
	}
	base := filepath.Join(strings.TrimSpace(string(out)), "internal", "integration_test", "spectest")
	var files []string
	for _, v := range []string{"v1", "v2"} {
		f, _ := filepath.Glob(filepath.Join(base, v, "testdata", "*.wasm"))
		files = append(files, f...)
	}
	if len(files) == 0 {
		t.Skipf("wazero spec testdata not found under %s", base)
	}
	return files
}
