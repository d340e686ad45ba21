package sandbox

import "testing"

func TestReadMemoryInfo(t *testing.T) {
	mod := func(sections ...byte) []byte { return append(append([]byte{}, wasmMagic...), sections...) }
	tests := []struct {
		name    string
		in      []byte
		want    memoryInfo
		wantErr bool
	}{
		{"empty module", mod(), memoryInfo{}, false},
		{"one memory", mod(5, 3, 1, 0, 42), memoryInfo{count: 1, minPages: 42}, false},
		{"min and max", mod(5, 5, 1, 1, 0x80, 0x01, 100), memoryInfo{count: 1, minPages: 128}, false},
		{"shared", mod(5, 4, 1, 3, 1, 2), memoryInfo{count: 1, minPages: 1, shared: true}, false},
		{"skips other sections", mod(0, 2, 'x', 'y', 5, 3, 1, 0, 7), memoryInfo{count: 1, minPages: 7}, false},
		{"bad magic", []byte("\x00asm\x02\x00\x00\x00"), memoryInfo{}, true},
		{"section past end", mod(5, 9, 1, 0), memoryInfo{}, true},
		{"truncated leb", mod(5, 3, 1, 0, 0x80), memoryInfo{}, true},
		{"unknown flags", mod(5, 3, 1, 0x10, 1), memoryInfo{}, true},
	}
	for _, tt := range tests {
		got, err := readMemoryInfo(tt.in)
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("%s: got %+v, %v; want %+v, error %v", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}

func FuzzReadMemoryInfo(f *testing.F) {
	f.Add(append(append([]byte{}, wasmMagic...), 5, 3, 1, 0, 42))
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x05\xff\xff\xff\xff\x0f"))
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := readMemoryInfo(b)
		if err == nil && info.count == 0 && info.minPages != 0 {
			t.Fatalf("min pages %d without a memory", info.minPages)
		}
	})
}
