package guest

// A hand-written JSON codec for the one input object and the one envelope of a call.
//
// Why: the sandbox charges one unit of fuel per executed wasm instruction, and on wasm
// encoding/json's scanner state machine, reflection and per-type caches cost tens of thousands
// of instructions per call, more than a typical node's own work. The codec below does the same
// job in a single pass over the bytes without reflection.
//
// What it must not do: change anything a node sees or emits. parseObject yields exactly the
// values json.Decoder with UseNumber yields (string, json.Number, bool, nil, []any,
// map[string]any), rejects exactly what it rejects (plus data after the object, see
// parseObject), and appendEnvelope writes exactly the bytes json.Marshal writes. Values of any
// type it does not know are handed to json.Marshal itself. json_test.go holds the
// differential fuzz tests against encoding/json that guarantee this.
//
// It uses the standard library only and no unsafe or reflection on the common path, so that it
// also builds with TinyGo.

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDecodeDepth is encoding/json's nesting limit (its scanner's maxNestingDepth): objects
// and arrays nested deeper than this are rejected, so hostile input cannot overflow the stack.
const maxDecodeDepth = 10000

// parseObject decodes data, which must hold one JSON object (or null, which yields an empty
// map) surrounded by optional whitespace.
//
// Unlike json.Decoder, which stops after the first value and ignores the rest, data after the
// object is an error: the host always sends exactly one object, so anything after it means the
// input is not what the caller believes it sent, and silently dropping it would hide that.
func parseObject(data []byte) (map[string]any, error) {
	// One copy of the whole input as a string: keys, numbers and strings without escapes are
	// then substrings of it instead of an allocation each, which on wasm costs hundreds of
	// instructions apiece. The substrings keep the copy alive, which is no more memory than
	// the input itself.
	d := decoder{data: data, text: string(data)}
	d.skipSpace()
	if d.pos == len(data) {
		return nil, errors.New("empty input")
	}
	var in map[string]any
	switch c := data[d.pos]; c {
	case '{':
		m, err := d.object()
		if err != nil {
			return nil, err
		}
		in = m
	case 'n':
		if err := d.literal("null"); err != nil {
			return nil, err
		}
		in = map[string]any{}
	default:
		// Parse the value anyway, so a syntax error is reported as such.
		if _, err := d.value(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("got %s, want an object", kindOf(c))
	}
	d.skipSpace()
	if d.pos != len(data) {
		return nil, d.errorf("data after the object")
	}
	return in, nil
}

// kindOf names the JSON value that starts with c, for error messages.
func kindOf(c byte) string {
	switch c {
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	default:
		return "a number"
	}
}

type decoder struct {
	data  []byte
	text  string // string(data)
	pos   int
	depth int
}

func (d *decoder) errorf(format string, args ...any) error {
	return fmt.Errorf("%s at offset %d", fmt.Sprintf(format, args...), d.pos)
}

// unexpected reports the byte at d.pos (or the end of input) where what was wanted.
func (d *decoder) unexpected(what string) error {
	if d.pos >= len(d.data) {
		return d.errorf("unexpected end of input, want %s", what)
	}
	return d.errorf("unexpected character %q, want %s", d.data[d.pos], what)
}

// skipSpace skips JSON whitespace, which is exactly space, tab, newline and carriage return.
func (d *decoder) skipSpace() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// value decodes the value at d.pos, which is not whitespace.
func (d *decoder) value() (any, error) {
	if d.pos >= len(d.data) {
		return nil, d.unexpected("a value")
	}
	switch c := d.data[d.pos]; c {
	case '{':
		return d.object()
	case '[':
		return d.array()
	case '"':
		return d.str()
	case 't':
		return true, d.literal("true")
	case 'f':
		return false, d.literal("false")
	case 'n':
		return nil, d.literal("null")
	default:
		if c == '-' || '0' <= c && c <= '9' {
			return d.number()
		}
		return nil, d.unexpected("a value")
	}
}

func (d *decoder) literal(lit string) error {
	if len(d.data)-d.pos < len(lit) || string(d.data[d.pos:d.pos+len(lit)]) != lit {
		return d.errorf("invalid literal, want %s", lit)
	}
	d.pos += len(lit)
	return nil
}

// enter counts one level of nesting and fails beyond maxDecodeDepth.
func (d *decoder) enter() error {
	d.depth++
	if d.depth > maxDecodeDepth {
		return d.errorf("nesting deeper than %d levels", maxDecodeDepth)
	}
	return nil
}

// object decodes the object at d.pos ('{'). As in encoding/json a repeated key keeps its last
// value, and an empty object is an empty, non-nil map.
func (d *decoder) object() (map[string]any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	d.pos++
	m := map[string]any{}
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		d.depth--
		return m, nil
	}
	for {
		if d.pos >= len(d.data) || d.data[d.pos] != '"' {
			return nil, d.unexpected("a string key")
		}
		k, err := d.str()
		if err != nil {
			return nil, err
		}
		d.skipSpace()
		if d.pos >= len(d.data) || d.data[d.pos] != ':' {
			return nil, d.unexpected("':' after an object key")
		}
		d.pos++
		d.skipSpace()
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		m[k] = v
		d.skipSpace()
		if d.pos < len(d.data) {
			switch d.data[d.pos] {
			case ',':
				d.pos++
				d.skipSpace()
				continue
			case '}':
				d.pos++
				d.depth--
				return m, nil
			}
		}
		return nil, d.unexpected("',' or '}' in an object")
	}
}

// array decodes the array at d.pos ('['). An empty array is an empty, non-nil slice, as in
// encoding/json.
func (d *decoder) array() ([]any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	d.pos++
	a := []any{}
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == ']' {
		d.pos++
		d.depth--
		return a, nil
	}
	for {
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		d.skipSpace()
		if d.pos < len(d.data) {
			switch d.data[d.pos] {
			case ',':
				d.pos++
				d.skipSpace()
				continue
			case ']':
				d.pos++
				d.depth--
				return a, nil
			}
		}
		return nil, d.unexpected("',' or ']' in an array")
	}
}

// number decodes the number at d.pos as a json.Number holding its literal text, after checking
// it against the JSON number grammar.
func (d *decoder) number() (json.Number, error) {
	n := numberLen(d.data[d.pos:])
	if n == 0 {
		return "", d.errorf("invalid number")
	}
	s := json.Number(d.text[d.pos : d.pos+n])
	d.pos += n
	return s, nil
}

// numberLen returns the length of the JSON number
// (-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?) at the start of b, or 0 if b does not start
// with one or a fraction or exponent is cut short (1., 1e+). What follows the number (the 1
// of 01) is the caller's to accept or reject.
func numberLen[T string | []byte](b T) int {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i++
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return 0
	}
	if i < len(b) && b[i] == '.' {
		if i+1 >= len(b) || !isDigit(b[i+1]) {
			return 0
		}
		i += 2
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		j := i + 1
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		if j >= len(b) || !isDigit(b[j]) {
			return 0
		}
		i = j + 1
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	return i
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// str decodes the string at d.pos ('"'). A string without escapes or control characters and
// with valid UTF-8, the common case, is a substring of the input; anything else goes through
// strSlow.
func (d *decoder) str() (string, error) {
	start := d.pos + 1
	i := start + plainRun(d.data[start:])
	switch {
	case i >= len(d.data):
		d.pos = len(d.data)
		return "", d.errorf("unterminated string")
	case d.data[i] == '"':
		d.pos = i + 1
		return d.text[start:i], nil
	case d.data[i] >= utf8.RuneSelf:
		// Non-ASCII text without escapes is kept as is too if it is valid UTF-8.
		j := i
		for j < len(d.data) {
			if d.data[j] >= utf8.RuneSelf {
				j++
				continue
			}
			n := plainRun(d.data[j:])
			if n == 0 {
				break
			}
			j += n
		}
		if j < len(d.data) && d.data[j] == '"' && utf8.Valid(d.data[i:j]) {
			d.pos = j + 1
			return d.text[start:j], nil
		}
		return d.strSlow(start, i)
	case d.data[i] == '\\':
		return d.strSlow(start, i)
	default:
		d.pos = i
		return "", d.errorf("control character %q in a string", d.data[i])
	}
}

// plainRun returns the length of the run at the start of b of bytes that a string holds as
// they are: printable ASCII other than '"' and '\\'. It tests eight bytes per step with
// word-wide arithmetic (the Go compiler turns the eight-byte read into one wasm load): byte by
// byte, scanning a long string costs about 20 instructions per byte on wasm.
func plainRun(b []byte) int {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	i := 0
	for ; len(b)-i >= 8; i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		// Each term is non-zero exactly when some byte of x is, in order: '"', '\\', below
		// 0x20, and 0x80 or above (the classic "has zero byte" and "has byte less than" tests).
		q := x ^ ('"' * ones)
		bs := x ^ ('\\' * ones)
		special := (q-ones)&^q | (bs-ones)&^bs | (x-0x20*ones)&^x | x
		if special&highs != 0 {
			break
		}
	}
	for i < len(b) && isPlain(b[i]) {
		i++
	}
	return i
}

func isPlain(c byte) bool { return c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\\' }

// strSlow finishes a string whose plain prefix is data[start:i] and which needs unescaping or
// UTF-8 repair, with encoding/json's rules: each byte that is not part of a valid UTF-8
// sequence becomes U+FFFD, a \u escape of a high surrogate followed by a \u escape of a low
// surrogate is one rune, and any other surrogate escape becomes U+FFFD.
func (d *decoder) strSlow(start, i int) (string, error) {
	data := d.data
	buf := make([]byte, 0, i-start+16)
	buf = append(buf, data[start:i]...)
	for i < len(data) {
		c := data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return string(buf), nil
		case c < 0x20:
			d.pos = i
			return "", d.errorf("control character %q in a string", c)
		case c < utf8.RuneSelf && c != '\\':
			// Copy the whole run of plain ASCII at once: a per-byte append costs several times
			// more on wasm.
			j := i + 1 + plainRun(data[i+1:])
			buf = append(buf, data[i:j]...)
			i = j
		case c >= utf8.RuneSelf:
			// A valid sequence is copied as is (DecodeRune accepts only the shortest form, so
			// that is what re-encoding would give); each byte of an invalid one becomes U+FFFD.
			if r, size := utf8.DecodeRune(data[i:]); r == utf8.RuneError && size == 1 {
				buf = append(buf, "\uFFFD"...)
				i++
			} else {
				buf = append(buf, data[i:i+size]...)
				i += size
			}
		default: // backslash
			if i+1 >= len(data) {
				d.pos = len(data)
				return "", d.errorf("unterminated string")
			}
			switch e := data[i+1]; e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r := hex4(data[i+2:])
				if r < 0 {
					d.pos = i
					return "", d.errorf("invalid \\u escape")
				}
				i += 6
				if utf16.IsSurrogate(r) {
					// Only a directly following \u escape can complete the pair; if it does not,
					// it is left to be decoded on its own.
					var r2 rune = -1
					if i+1 < len(data) && data[i] == '\\' && data[i+1] == 'u' {
						r2 = hex4(data[i+2:])
					}
					if pair := utf16.DecodeRune(r, r2); pair != utf8.RuneError {
						r = pair
						i += 6
					} else {
						r = utf8.RuneError
					}
				}
				buf = utf8.AppendRune(buf, r)
				continue
			default:
				d.pos = i
				return "", d.errorf("invalid escape %q", "\\"+string(e))
			}
			i += 2
		}
	}
	d.pos = len(data)
	return "", d.errorf("unterminated string")
}

// hex4 decodes four hex digits at the start of b, or returns -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// maxEncodeDepth bounds how deep appendValue follows maps and slices before it hands the whole
// envelope to json.Marshal. Only a cycle or absurdly deep output gets there, and json.Marshal
// then reports the cycle with its own error text (it starts looking for cycles at the same
// depth), so the envelope is still byte-identical.
const maxEncodeDepth = 1000

// errTooDeep asks encode to fall back to json.Marshal for the whole envelope.
var errTooDeep = errors.New("output nested too deeply for the fast encoder")

// appendEnvelope appends what json.Marshal(env) would produce.
func appendEnvelope(b []byte, env envelope) ([]byte, error) {
	b = append(b, `{"output":`...)
	if env.Output == nil {
		b = append(b, "null"...)
	} else {
		var err error
		if b, err = appendMap(b, env.Output, 1); err != nil {
			return nil, err
		}
	}
	if env.Error != "" {
		b = append(b, `,"error":`...)
		b = appendString(b, env.Error)
	}
	if env.Kind != "" {
		b = append(b, `,"kind":`...)
		b = appendString(b, env.Kind)
	}
	return append(b, '}'), nil
}

// appendValue appends the encoding of v as json.Marshal would produce it, with the same error.
func appendValue(b []byte, v any, depth int) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendString(b, v), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case json.Number:
		s := string(v)
		if s == "" {
			s = "0" // json.Marshal's encoding of the zero Number
		}
		if numberLen(s) != len(s) {
			return nil, fmt.Errorf("json: invalid number literal %q", s)
		}
		return append(b, s...), nil
	case float64:
		return appendFloat(b, v, 64)
	case float32:
		return appendFloat(b, float64(v), 32)
	case int:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int8:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int16:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int32:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(b, v, 10), nil
	case uint:
		return strconv.AppendUint(b, uint64(v), 10), nil
	case uint8:
		return strconv.AppendUint(b, uint64(v), 10), nil
	case uint16:
		return strconv.AppendUint(b, uint64(v), 10), nil
	case uint32:
		return strconv.AppendUint(b, uint64(v), 10), nil
	case uint64:
		return strconv.AppendUint(b, v, 10), nil
	case uintptr:
		return strconv.AppendUint(b, uint64(v), 10), nil
	case map[string]any:
		if v == nil {
			return append(b, "null"...), nil
		}
		return appendMap(b, v, depth+1)
	case []any:
		if v == nil {
			return append(b, "null"...), nil
		}
		if depth+1 > maxEncodeDepth {
			return nil, errTooDeep
		}
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendValue(b, e, depth+1); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case json.Marshaler:
		return appendMarshaler(b, v)
	default:
		// Structs, other maps and slices, pointers, text marshalers: json.Marshal encodes a value
		// the same way wherever it sits in the envelope, so encoding it alone is byte-identical.
		enc, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		return append(b, enc...), nil
	}
}

// appendMap appends m with its keys in byte order, as json.Marshal does.
func appendMap(b []byte, m map[string]any, depth int) ([]byte, error) {
	if depth > maxEncodeDepth {
		return nil, errTooDeep
	}
	// Most maps are small: sort their keys in a stack array rather than a heap slice, which on
	// wasm saves a pointerful allocation (hundreds of instructions) per map.
	var small [16]string
	keys := small[:0]
	if len(m) > len(small) {
		keys = make([]string, 0, len(m))
	}
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		var err error
		if b, err = appendValue(b, m[k], depth); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// appendFloat formats f like encoding/json: the shortest representation that round-trips at
// the given bit size, in exponent form only below 1e-6 or from 1e21 on, with exponents not
// padded to two digits. NaN and infinities are errors.
func appendFloat(b []byte, f float64, bits int) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, &json.UnsupportedValueError{Str: strconv.FormatFloat(f, 'g', -1, bits)}
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 {
		// Compare at the value's own precision, as encoding/json does, so the cut-offs are exact.
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	start := len(b)
	b = strconv.AppendFloat(b, f, format, -1, bits)
	if format == 'e' {
		// e-07 becomes e-7.
		n := len(b)
		if n-start >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}

// appendMarshaler appends the output of m.MarshalJSON as json.Marshal would: a nil pointer is
// null without a call, and the output is compacted, HTML-escaped and validated. MarshalJSON is
// called exactly once, because it is the node's code and may not be repeatable.
func appendMarshaler(b []byte, m json.Marshaler) ([]byte, error) {
	// The only reflection on this path: encoding/json writes null for a nil pointer rather than
	// calling its method (which would dereference it).
	if rv := reflect.ValueOf(m); rv.Kind() == reflect.Pointer && rv.IsNil() {
		return append(b, "null"...), nil
	}
	raw, err := m.MarshalJSON()
	if err != nil {
		return nil, &json.MarshalerError{Type: reflect.TypeOf(m), Err: err}
	}
	if isPlainToken(raw) {
		// A number, literal or plain string is already compact and has nothing to escape.
		return append(b, raw...), nil
	}
	// Anything else: let encoding/json compact, escape and validate the bytes already produced.
	// A nil RawMessage would encode as null, but json.Marshal rejects empty output, so pass an
	// empty non-nil slice to get that error.
	if raw == nil {
		raw = []byte{}
	}
	enc, err := json.Marshal(json.RawMessage(raw))
	if err != nil {
		var me *json.MarshalerError
		if errors.As(err, &me) {
			err = me.Err
		}
		return nil, &json.MarshalerError{Type: reflect.TypeOf(m), Err: err}
	}
	return append(b, enc...), nil
}

// isPlainToken reports whether raw is exactly a JSON number, true, false, null, or a string of
// printable ASCII with no escapes and nothing that HTML-safe encoding would escape.
func isPlainToken(raw []byte) bool {
	switch {
	case len(raw) == 0:
		return false
	case numberLen(raw) == len(raw):
		return true
	case string(raw) == "true" || string(raw) == "false" || string(raw) == "null":
		return true
	case len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"':
		for _, c := range raw[1 : len(raw)-1] {
			if !htmlSafe(c) {
				return false
			}
		}
		return true
	}
	return false
}

// htmlSafe reports whether json.Marshal copies the ASCII byte c into a string unescaped.
func htmlSafe(c byte) bool {
	return c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
}

const hexDigits = "0123456789abcdef"

// appendString appends s quoted the way json.Marshal quotes strings: ", \ and the control
// characters escaped (\b \f \n \r \t by name, the rest as \u00XX), <, > and & as \u003c, \u003e
// and \u0026 so the output is safe inside HTML, U+2028 and U+2029 escaped so it is safe as
// JavaScript, and each byte of invalid UTF-8 replaced by \ufffd.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if htmlSafe(c) {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
