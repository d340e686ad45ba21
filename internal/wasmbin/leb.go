package wasmbin

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// ErrMalformed is wrapped by every error that reports input which is not a well-formed module.
var ErrMalformed = errors.New("malformed module")

// ErrTooLarge is wrapped by errors that report input exceeding a decoder limit.
var ErrTooLarge = errors.New("module exceeds decoder limit")

func malformedf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// reader is a bounds-checked cursor over a byte slice; every method fails rather than panics.
type reader struct {
	b   []byte
	pos int
	// base is added to pos in error messages so offsets are relative to the whole module.
	base int
}

func (r *reader) eof() bool      { return r.pos >= len(r.b) }
func (r *reader) remaining() int { return len(r.b) - r.pos }
func (r *reader) off() int       { return r.base + r.pos }

func (r *reader) byte() (byte, error) {
	if r.pos >= len(r.b) {
		return 0, malformedf("unexpected end at offset %d", r.off())
	}
	c := r.b[r.pos]
	r.pos++
	return c, nil
}

func (r *reader) bytes(n int) ([]byte, error) {
	if n < 0 || n > r.remaining() {
		return nil, malformedf("length %d out of bounds at offset %d", n, r.off())
	}
	s := r.b[r.pos : r.pos+n : r.pos+n]
	r.pos += n
	return s, nil
}

// uleb reads an unsigned LEB128 of at most bits bits, rejecting overlong encodings and unused
// bits set, as the spec requires.
func (r *reader) uleb(bits uint) (uint64, error) {
	v, n, err := decodeULEB(r.b[r.pos:], bits)
	if err != nil {
		return 0, fmt.Errorf("%w at offset %d", err, r.off())
	}
	r.pos += n
	return v, nil
}

func (r *reader) u32() (uint32, error) {
	v, err := r.uleb(32)
	return uint32(v), err
}

// count reads a vector length and checks that at least minSize bytes per element remain, so a
// hostile count cannot make callers allocate more than the input size justifies.
func (r *reader) count(minSize int) (int, error) {
	start := r.off()
	n, err := r.u32()
	if err != nil {
		return 0, err
	}
	if minSize < 1 {
		minSize = 1
	}
	if uint64(n)*uint64(minSize) > uint64(r.remaining()) {
		return 0, malformedf("vector count %d at offset %d exceeds remaining %d bytes", n, start, r.remaining())
	}
	return int(n), nil
}

func (r *reader) sleb(bits uint) (int64, error) {
	v, n, err := decodeSLEB(r.b[r.pos:], bits)
	if err != nil {
		return 0, fmt.Errorf("%w at offset %d", err, r.off())
	}
	r.pos += n
	return v, nil
}

func (r *reader) name() (string, error) {
	n, err := r.count(1)
	if err != nil {
		return "", err
	}
	b, err := r.bytes(n)
	if err != nil {
		return "", err
	}
	if !validUTF8(b) {
		return "", malformedf("name is not valid UTF-8 at offset %d", r.off()-n)
	}
	return string(b), nil
}

func decodeULEB(b []byte, bits uint) (uint64, int, error) {
	var v uint64
	maxBytes := int((bits + 6) / 7)
	for i := 0; ; i++ {
		if i >= len(b) {
			return 0, 0, malformedf("truncated LEB128")
		}
		if i >= maxBytes {
			return 0, 0, malformedf("LEB128 integer too long")
		}
		c := b[i]
		shift := uint(i) * 7
		if i == maxBytes-1 {
			// The last permitted byte may only carry the bits that remain.
			rem := bits - shift
			if c&0x80 != 0 || (rem < 7 && c>>rem != 0) {
				return 0, 0, malformedf("LEB128 integer too large")
			}
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, i + 1, nil
		}
	}
}

func decodeSLEB(b []byte, bits uint) (int64, int, error) {
	var v int64
	maxBytes := int((bits + 6) / 7)
	for i := 0; ; i++ {
		if i >= len(b) {
			return 0, 0, malformedf("truncated LEB128")
		}
		if i >= maxBytes {
			return 0, 0, malformedf("LEB128 integer too long")
		}
		c := b[i]
		shift := uint(i) * 7
		if i == maxBytes-1 {
			rem := bits - shift // bits that remain including the sign bit
			if c&0x80 != 0 {
				return 0, 0, malformedf("LEB128 integer too large")
			}
			if rem < 7 {
				// The unused high bits must all equal the sign bit.
				t := (c & 0x7f) >> (rem - 1)
				if t != 0 && t != 0x7f>>(rem-1) {
					return 0, 0, malformedf("LEB128 integer too large")
				}
			}
		}
		v |= int64(c&0x7f) << shift
		if c&0x80 == 0 {
			n := shift + 7
			if n < 64 && c&0x40 != 0 {
				v |= -1 << n
			}
			return v, i + 1, nil
		}
	}
}

// AppendULEB appends v as a minimal unsigned LEB128.
func AppendULEB(dst []byte, v uint64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			dst = append(dst, c|0x80)
			continue
		}
		return append(dst, c)
	}
}

// AppendULEBWidth appends v as an unsigned LEB128 padded to width bytes, or minimal when v does
// not fit; padding keeps fixed-width fields (as Go's linker writes them) byte-identical.
func AppendULEBWidth(dst []byte, v uint64, width int) []byte {
	if width <= 1 || width > 10 || ulebLen(v) > width {
		return AppendULEB(dst, v)
	}
	for i := 0; i < width-1; i++ {
		dst = append(dst, byte(v&0x7f)|0x80)
		v >>= 7
	}
	return append(dst, byte(v&0x7f))
}

// AppendSLEB appends v as a minimal signed LEB128.
func AppendSLEB(dst []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(dst, c)
		}
		dst = append(dst, c|0x80)
	}
}

func ulebLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func validUTF8(b []byte) bool {
	// utf8.Valid accepts exactly the encodings the spec allows (no surrogates, no overlongs).
	return utf8.Valid(b)
}
