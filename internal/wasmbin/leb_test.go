package wasmbin

import (
	"errors"
	"math"
	"testing"
)

func TestDecodeULEB(t *testing.T) {
	tests := []struct {
		in   []byte
		bits uint
		want uint64
		n    int
		ok   bool
	}{
		{[]byte{0x00}, 32, 0, 1, true},
		{[]byte{0x7f}, 32, 127, 1, true},
		{[]byte{0x80, 0x01}, 32, 128, 2, true},
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x00}, 32, 0, 5, true}, // padded, as Go's linker writes
		{[]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, 32, math.MaxUint32, 5, true},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0x1f}, 32, 0, 0, false},       // unused bits set
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, 32, 0, 0, false}, // too long
		{[]byte{0x80}, 32, 0, 0, false},                               // truncated
		{[]byte{}, 32, 0, 0, false},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 64, math.MaxUint64, 10, true},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, 64, 0, 0, false},
	}
	for _, tt := range tests {
		v, n, err := decodeULEB(tt.in, tt.bits)
		if (err == nil) != tt.ok || (tt.ok && (v != tt.want || n != tt.n)) {
			t.Errorf("decodeULEB(%x, %d) = %d, %d, %v; want %d, %d, ok=%v", tt.in, tt.bits, v, n, err, tt.want, tt.n, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Errorf("error %v does not wrap ErrMalformed", err)
		}
	}
}

func TestDecodeSLEB(t *testing.T) {
	tests := []struct {
		in   []byte
		bits uint
		want int64
		ok   bool
	}{
		{[]byte{0x00}, 32, 0, true},
		{[]byte{0x7f}, 32, -1, true},
		{[]byte{0x40}, 32, -64, true},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0x07}, 32, math.MaxInt32, true},
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x78}, 32, math.MinInt32, true},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, 32, 0, false}, // sign bit 0 but upper bits 1... not sign extension
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x70}, 32, 0, false},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, 64, -1, true},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 64, 0, false},
		{[]byte{0x40}, 33, -64, true},
	}
	for _, tt := range tests {
		v, _, err := decodeSLEB(tt.in, tt.bits)
		if (err == nil) != tt.ok || (tt.ok && v != tt.want) {
			t.Errorf("decodeSLEB(%x, %d) = %d, %v; want %d ok=%v", tt.in, tt.bits, v, err, tt.want, tt.ok)
		}
	}
}

func TestLEBRoundTrip(t *testing.T) {
	for _, v := range []int64{0, 1, -1, 63, 64, -64, -65, 1 << 31, math.MaxInt32, math.MinInt32, math.MaxInt64, math.MinInt64} {
		b := AppendSLEB(nil, v)
		got, n, err := decodeSLEB(b, 64)
		if err != nil || got != v || n != len(b) {
			t.Errorf("sleb %d: %x -> %d, %v", v, b, got, err)
		}
		u := uint64(v)
		for _, w := range []int{0, 5, 10} {
			b = AppendULEBWidth(nil, u, w)
			gotU, n, err := decodeULEB(b, 64)
			if err != nil || gotU != u || n != len(b) || (w > len(AppendULEB(nil, u)) && len(b) != w) {
				t.Errorf("uleb %d width %d: %x -> %d, %v", u, w, b, gotU, err)
			}
		}
	}
}
