package rewrite

import (
	"bytes"
	"context"
	"testing"

	"github.com/sgde-project/sgde/internal/wasmbin"
	"github.com/tetratelabs/wazero"
)

// dataModule has overlapping active segments around a passive one that memory.init copies, so
// MergeData must renumber the passive segment and keep the later writes winning.
func dataModule(t *testing.T, lastOffset int32) []byte {
	t.Helper()
	count := uint32(5)
	m := &wasmbin.Module{
		Memories: []wasmbin.Limits{{Min: 1}},
		Exports:  []wasmbin.Export{{Name: "memory", Kind: wasmbin.KindMemory}, {Name: "init", Kind: wasmbin.KindFunc}},
		Data: []wasmbin.Data{
			{Mode: wasmbin.ModeActive, Offset: wasmbin.ConstExprI32(0), Init: []byte("abcd")},
			{Flags: 1, Mode: wasmbin.ModePassive, Init: []byte("PQRS")},
			{Mode: wasmbin.ModeActive, Offset: wasmbin.ConstExprI32(2), Init: []byte("XY")},
			{Mode: wasmbin.ModeActive, Offset: wasmbin.ConstExprI32(100), Init: []byte("zz")},
			{Mode: wasmbin.ModeActive, Offset: wasmbin.ConstExprI32(lastOffset), Init: []byte("end!")},
		},
		DataCount: &count,
	}
	m.Funcs = []uint32{m.TypeIndex(wasmbin.FuncType{})}
	// memory.init 1 (dst 200, src 0, len 4); data.drop 1; data.drop 0 (an active segment)
	m.Code = []wasmbin.Func{{Body: []byte{0x41, 0xc8, 0x01, 0x41, 0, 0x41, 4, 0xfc, 8, 1, 0, 0xfc, 9, 1, 0xfc, 9, 0, 0x0b}}}
	b, err := wasmbin.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func memoryAfterInit(t *testing.T, wasm []byte) ([]byte, error) {
	t.Helper()
	ctx := context.Background()
	r := newRuntime(ctx, t, nil)
	mod, err := r.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		return nil, err
	}
	if _, err := mod.ExportedFunction("init").Call(ctx); err != nil {
		return nil, err
	}
	b, _ := mod.Memory().Read(0, 65536)
	return bytes.Clone(b), nil
}

func TestMergeData(t *testing.T) {
	for _, tc := range []struct {
		name       string
		lastOffset int32
		gap        uint32
		wantData   int // segments after the pass
	}{
		{"one cluster", 300, DefaultMergeGap, 2},
		{"gaps larger than maxGap stay apart", 300, 0, 4},
		{"segment past the initial size: memory left alone", 65534, DefaultMergeGap, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orig := dataModule(t, tc.lastOffset)
			out, err := MergeData(orig, tc.gap)
			if err != nil {
				t.Fatal(err)
			}
			wasmValidateOrLog(t, out)
			m, err := wasmbin.Decode(out)
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Data) != tc.wantData || *m.DataCount != uint32(tc.wantData) {
				t.Fatalf("%d segments (data count %d), want %d", len(m.Data), *m.DataCount, tc.wantData)
			}
			want, werr := memoryAfterInit(t, orig)
			got, gerr := memoryAfterInit(t, out)
			if (werr == nil) != (gerr == nil) {
				t.Fatalf("original: %v, merged: %v", werr, gerr)
			}
			if werr == nil && !bytes.Equal(got, want) {
				t.Fatalf("memory differs after instantiation and memory.init")
			}
			if werr == nil && string(want[:4]) != "abXY" || werr == nil && string(want[200:204]) != "PQRS" {
				t.Fatalf("fixture broken: %q %q", want[:4], want[200:204])
			}
		})
	}
}
