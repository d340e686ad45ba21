package guest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

// refDecode is what decodeInput did before json.go: json.Decoder with UseNumber into a map,
// null meaning an empty map. One deliberate difference is applied on top: data after the
// object (other than whitespace) is rejected, see parseObject.
func refDecode(data []byte) (map[string]any, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, false
	}
	if len(bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n")) != 0 {
		return nil, false
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, true
}

// refEncode is what encode did before json.go.
func refEncode(env envelope) []byte {
	b, err := json.Marshal(env)
	if err != nil {
		b, _ = json.Marshal(envelope{Error: "output is not JSON-encodable: " + err.Error(), Kind: "bad_output"})
	}
	return b
}

// checkDecode fails t unless parseObject agrees with refDecode on data.
func checkDecode(t *testing.T, data []byte) {
	t.Helper()
	got, err := parseObject(data)
	want, ok := refDecode(data)
	switch {
	case ok && err != nil:
		t.Fatalf("parseObject(%q) failed: %v; encoding/json accepts it as %#v", data, err, want)
	case !ok && err == nil:
		t.Fatalf("parseObject(%q) = %#v; encoding/json rejects it", data, got)
	case ok && !reflect.DeepEqual(got, want):
		t.Fatalf("parseObject(%q) = %#v, encoding/json gives %#v", data, got, want)
	case err != nil && (err.Error() == "" || strings.ToLower(err.Error()[:1]) != err.Error()[:1]):
		t.Fatalf("parseObject(%q): error %q is not a lower-case message", data, err)
	}
}

// decodeSeeds are inputs where a hand-written decoder is most likely to differ from
// encoding/json; they seed FuzzDecode and are checked by TestDecodeMatchesEncodingJSON.
var decodeSeeds = []string{
	``, ` `, `{}`, ` {} `, "\t{\n}\r\n", `null`, ` null `, `nul`, `nullx`, `{}x`, `{} {}`, `{}}`,
	`[]`, `[1]`, `"s"`, `1`, `-0`, `true`, `false`, `{`, `}`, `{"a"}`, `{"a":}`, `{"a":1,}`,
	`{,}`, `{"a":1 "b":2}`, `{"a" : 1 , "b" : [ 1 , 2 ] }`, `{'a':1}`, `{a:1}`,
	`{"a":1,"a":2}`, `{"a":{"x":1},"a":[2]}`, `{"":""}`,
	`{"n":0}`, `{"n":-0}`, `{"n":01}`, `{"n":-}`, `{"n":1.}`, `{"n":.5}`, `{"n":1.5e}`,
	`{"n":1e+}`, `{"n":1E-05}`, `{"n":+1}`, `{"n":1e5}`, `{"n":-12.500e+10}`,
	`{"n":123456789012345678901234567890}`, `{"n":0x10}`, `{"n":Infinity}`, `{"n":NaN}`,
	`{"b":true,"f":false,"z":null}`, `{"b":tru}`, `{"b":truex}`, `{"b":True}`,
	`{"a":[]}`, `{"a":[[],{}]}`, `{"a":[1,]}`, `{"a":[,1]}`, `{"a":[1 2]}`,
	`{"s":"\"\\\/\b\f\n\r\t"}`, `{"s":"\u0041\u00e9\u20ac"}`, `{"s":"\uD83D\uDE00"}`,
	`{"s":"\uD83D"}`, `{"s":"\uDE00"}`, `{"s":"\uD83Dx"}`, `{"s":"\uD83D\u0041"}`,
	`{"s":"\uD83D\uD83D\uDE00"}`, `{"s":"\uDE00\uD83D"}`, `{"s":"\uD83D\"}`, `{"s":"\uD83D\n"}`,
	`{"s":"\u12"}`, `{"s":"\u12G4"}`, `{"s":"\x"}`, `{"s":"\'"}`, `{"s":"\`, `{"s":"abc`,
	`{"s":"\uDBFF\uDFFF"}`, `{"s":"\u0000"}`, `{"s":"\uFFFD"}`, `{"s":"\ud800\udc00"}`,
	"{\"s\":\"a\x00b\"}", "{\"s\":\"a\x1fb\"}", "{\"s\":\"a\x7fb\"}", "{\"s\":\"a\tb\"}",
	"{\"s\":\"\xff\"}", "{\"s\":\"\xc3\"}", "{\"s\":\"\xc3\xa9\"}", "{\"s\":\"\xed\xa0\x80\"}",
	"{\"s\":\"\xf4\x90\x80\x80\"}", "{\"s\":\"\xe2\x80\xa8\"}", "{\"s\":\"a\xe2\x82\"}",
	"{\"\xff\":1}", "{\"k\\u00e9\":1}", "\xef\xbb\xbf{}", "{\"a\":1}\x00", "{\"a\":\v1}",
	"{\"a\":\f1}", "{\"a\":\u00a01}", `{"a":{"b":{"c":[{"d":null}]}}}`,
}

func TestDecodeMatchesEncodingJSON(t *testing.T) {
	for _, s := range decodeSeeds {
		checkDecode(t, []byte(s))
	}
}

func TestDecodeValues(t *testing.T) {
	tests := []struct {
		in   string
		want map[string]any
	}{
		{`null`, map[string]any{}},
		{`{"n":-1.5e3,"big":12345678901234567890}`, map[string]any{"n": json.Number("-1.5e3"), "big": json.Number("12345678901234567890")}},
		{`{"a":1,"a":"last"}`, map[string]any{"a": "last"}},
		{`{"a":[],"o":{}}`, map[string]any{"a": []any{}, "o": map[string]any{}}},
		{`{"s":"\uD83D\uDE00"}`, map[string]any{"s": "\U0001F600"}},
		{`{"s":"\uD83D\u0041"}`, map[string]any{"s": "\uFFFDA"}},
		{`{"s":"\uDE00"}`, map[string]any{"s": "\uFFFD"}},
		{"{\"s\":\"\xed\xa0\x80\"}", map[string]any{"s": "\uFFFD\uFFFD\uFFFD"}},
	}
	for _, tt := range tests {
		got, err := parseObject([]byte(tt.in))
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseObject(%q) = %#v, %v; want %#v", tt.in, got, err, tt.want)
		}
	}
}

// TestDecodeTrailingData pins the one deliberate difference from json.Decoder, which stops
// after the first value and ignores the rest.
func TestDecodeTrailingData(t *testing.T) {
	for _, in := range []string{`{}x`, `{"a":1} {"a":2}`, `null null`, `{}]`} {
		if _, err := parseObject([]byte(in)); err == nil || !strings.Contains(err.Error(), "data after the object") {
			t.Errorf("parseObject(%q) error = %v, want data after the object", in, err)
		}
	}
	if _, err := parseObject([]byte("{} \t\r\n")); err != nil {
		t.Errorf("trailing whitespace rejected: %v", err)
	}
}

func TestDecodeDepth(t *testing.T) {
	nest := func(depth int) []byte {
		// The top-level object is one level; the rest alternate arrays and objects.
		var b strings.Builder
		b.WriteString(`{"a":`)
		for i := 1; i < depth; i++ {
			if i%2 == 1 {
				b.WriteString(`[`)
			} else {
				b.WriteString(`{"k":`)
			}
		}
		b.WriteString(`1`)
		for i := depth - 1; i >= 1; i-- {
			if i%2 == 1 {
				b.WriteString(`]`)
			} else {
				b.WriteString(`}`)
			}
		}
		b.WriteString(`}`)
		return []byte(b.String())
	}
	for _, depth := range []int{maxDecodeDepth - 1, maxDecodeDepth, maxDecodeDepth + 1, 3 * maxDecodeDepth} {
		checkDecode(t, nest(depth))
	}
	if _, err := parseObject(nest(maxDecodeDepth + 1)); err == nil {
		t.Fatal("nesting beyond the limit accepted")
	}
	// Unclosed nesting far beyond the limit must fail cleanly, not overflow the stack.
	if _, err := parseObject([]byte(`{"a":` + strings.Repeat("[", 1<<20))); err == nil {
		t.Fatal("unclosed deep nesting accepted")
	}
}

// TestPlainRun checks the word-at-a-time scan against the byte-at-a-time definition for every
// byte value at every position of a word and of the tail.
func TestPlainRun(t *testing.T) {
	for n := 0; n <= 24; n++ {
		for pos := 0; pos < n; pos++ {
			for c := 0; c < 256; c++ {
				b := bytes.Repeat([]byte{'a'}, n)
				b[pos] = byte(c)
				want := 0
				for want < len(b) && isPlain(b[want]) {
					want++
				}
				if got := plainRun(b); got != want {
					t.Fatalf("plainRun(%q) = %d, want %d", b, got, want)
				}
			}
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte(warmInput))
	f.Add([]byte(`{"program":"def solution():\n    \"\"\"A robe takes 2 bolts\"\"\"\n    return 1\u00e9\uD83D\uDE00 <&>"}`))
	f.Add([]byte("{\"long key with spaces\":\"0123456789abcdef\x7f\x80\xff tail of more than eight\"}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, data)
	})
}

// checkEncode fails t unless encode and the json.Marshal-based reference agree byte for byte.
func checkEncode(t *testing.T, env envelope) {
	t.Helper()
	want := refEncode(env)
	if got := encode(env); !bytes.Equal(got, want) {
		t.Fatalf("encode = %s\njson.Marshal gives %s", got, want)
	}
}

// plainMarshaler, like arith_program's number, emits its own text as its JSON.
type plainMarshaler string

func (m plainMarshaler) MarshalJSON() ([]byte, error) { return []byte(m), nil }

// ptrMarshaler has a pointer receiver, so only *ptrMarshaler is a json.Marshaler.
type ptrMarshaler struct{ s string }

func (m *ptrMarshaler) MarshalJSON() ([]byte, error) { return []byte(m.s), nil }

// failingMarshaler's MarshalJSON fails.
type failingMarshaler struct{}

func (failingMarshaler) MarshalJSON() ([]byte, error) { return nil, errors.New("no way") }

// textMarshaler is encoded as a JSON string by encoding/json.
type textMarshaler int

func (m textMarshaler) MarshalText() ([]byte, error) {
	return []byte("t<" + string(rune('0'+m%10)) + ">"), nil
}

// countingMarshaler counts its calls.
type countingMarshaler struct{ n *int }

func (m countingMarshaler) MarshalJSON() ([]byte, error) {
	*m.n++
	return []byte(` { "a" : "<" } `), nil
}

type point struct {
	X int    `json:"x"`
	Y string `json:"y,omitempty"`
}

type namedInt int

func TestEncodeMatchesMarshal(t *testing.T) {
	cyclic := map[string]any{"k": 1}
	cyclic["self"] = cyclic
	cyclicSlice := []any{1}
	cyclicSlice[0] = cyclicSlice
	deep := map[string]any{}
	for cur, i := deep, 0; i < 1500; i++ {
		next := map[string]any{}
		cur["d"] = []any{next}
		cur = next
	}
	values := []any{
		nil, "", "plain", `q"b\s/`, "<a href='x'>&amp;</a>", "\u2028\u2029", "\x00\x01\x1f\x7f",
		"\b\f\n\r\t", "\xff", "a\xc3", "\xed\xa0\x80", "é€😀", "\uFFFD",
		true, false,
		json.Number(""), json.Number("0"), json.Number("-1.5e3"), json.Number("01"), json.Number("1."),
		json.Number("abc"), json.Number("12345678901234567890"),
		0.0, math.Copysign(0, -1), 1.0, -1.5, 0.1, 1e20, 1e21, 123456789e13, 1e-6, 1e-7, 9.99999e-7,
		5e-324, math.MaxFloat64, math.NaN(), math.Inf(1), math.Inf(-1), 1.0 / 3,
		float32(0.1), float32(1e-7), float32(1e21), float32(1e20), float32(16777216), float32(math.Inf(-1)),
		int(-1), int8(-128), int16(32767), int32(-5), int64(math.MinInt64), uint(7), uint8(255),
		uint16(65535), uint32(1 << 31), uint64(math.MaxUint64), uintptr(42),
		map[string]any(nil), []any(nil), map[string]any{}, []any{},
		map[string]any{"b": 1, "a": 2, "A": 3, "é": 4, "": 5, "<k>": 6, "a\xff": 7},
		[]any{1, "x", nil, []any{map[string]any{"z": false}}},
		plainMarshaler("3431580"), plainMarshaler("-0.5e-3"), plainMarshaler("true"), plainMarshaler(`"ok"`),
		plainMarshaler(`"<b>"`), plainMarshaler(` 1 `), plainMarshaler(`{"b" : [1, 2]}`), plainMarshaler(`01`),
		plainMarshaler(""), plainMarshaler(`{"a":1} x`), plainMarshaler(`"\u2028"`), plainMarshaler("\"\xff\""),
		(*ptrMarshaler)(nil), &ptrMarshaler{"12"}, ptrMarshaler{"12"}, failingMarshaler{},
		json.RawMessage(nil), json.RawMessage(`[ 1 ]`), json.RawMessage(`nope`),
		textMarshaler(3), point{1, "<"}, &point{X: 2}, (*point)(nil), namedInt(4),
		map[string]string{"a": "b"}, map[int]any{2: 1, 10: 2}, []string{"x"}, []byte("bytes"), [2]int{1, 2},
		make(chan int), func() {}, complex(1, 2), []any{math.NaN()}, map[string]any{"a": 1, "b": make(chan int)},
		cyclic, cyclicSlice, deep,
	}
	for _, v := range values {
		checkEncode(t, envelope{Output: map[string]any{"v": v}})
	}
	for _, s := range []string{"boom", "<&>", "\xff\u2028", strings.Repeat("x", 100)} {
		checkEncode(t, envelope{Error: s, Kind: "guest_error"})
	}
	checkEncode(t, envelope{})
	checkEncode(t, envelope{Output: map[string]any{}})
}

// TestEncodeCallsMarshalerOnce guards against calling node code twice to produce one value.
func TestEncodeCallsMarshalerOnce(t *testing.T) {
	var n int
	got := encode(envelope{Output: map[string]any{"v": countingMarshaler{&n}}})
	if n != 1 {
		t.Fatalf("MarshalJSON called %d times, want 1", n)
	}
	if want := `{"output":{"v":{"a":"\u003c"}}}`; string(got) != want {
		t.Fatalf("encode = %s, want %s", got, want)
	}
}

// fuzzValues turns fuzz bytes into a value tree covering every type encode handles itself and
// a sample of the ones it hands to json.Marshal.
type fuzzValues struct{ data []byte }

func (f *fuzzValues) byte() byte {
	if len(f.data) == 0 {
		return 0
	}
	c := f.data[0]
	f.data = f.data[1:]
	return c
}

func (f *fuzzValues) bytes() []byte {
	n := min(int(f.byte()%32), len(f.data))
	b := f.data[:n]
	f.data = f.data[n:]
	return b
}

func (f *fuzzValues) uint64() uint64 {
	var b [8]byte
	copy(b[:], f.data)
	f.data = f.data[min(8, len(f.data)):]
	return binary.LittleEndian.Uint64(b[:])
}

func (f *fuzzValues) value(depth int) any {
	op := f.byte()
	switch op % 24 {
	case 0:
		return nil
	case 1, 2:
		return string(f.bytes())
	case 3:
		return op&0x80 != 0
	case 4:
		return json.Number(f.bytes())
	case 5:
		return math.Float64frombits(f.uint64())
	case 6:
		return float64(int64(f.uint64())) / float64(int64(1)<<(f.byte()%64))
	case 7:
		return math.Float32frombits(uint32(f.uint64()))
	case 8:
		u := f.uint64()
		ints := []any{int(u), int8(u), int16(u), int32(u), int64(u), uint(u), uint8(u), uint16(u),
			uint32(u), uint64(u), uintptr(u)}
		return ints[int(f.byte())%len(ints)]
	case 9, 10, 11:
		if depth > 6 {
			return nil
		}
		n := int(f.byte() % 6)
		m := make(map[string]any, n)
		for range n {
			m[string(f.bytes())] = f.value(depth + 1)
		}
		return m
	case 12, 13:
		if depth > 6 {
			return nil
		}
		n := int(f.byte() % 6)
		a := make([]any, 0, n)
		for range n {
			a = append(a, f.value(depth+1))
		}
		return a
	case 14:
		return map[string]any(nil)
	case 15:
		return []any(nil)
	case 16, 17:
		return plainMarshaler(f.bytes())
	case 18:
		if op&0x80 != 0 {
			return (*ptrMarshaler)(nil)
		}
		return &ptrMarshaler{string(f.bytes())}
	case 19:
		return failingMarshaler{}
	case 20:
		return json.RawMessage(f.bytes())
	case 21:
		return point{int(int8(f.byte())), string(f.bytes())}
	case 22:
		return textMarshaler(f.byte())
	default:
		return map[string]string{string(f.bytes()): string(f.bytes())}
	}
}

func FuzzEncode(f *testing.F) {
	f.Add([]byte{9, 3, 1, 'a', 1, 1, 'b', 5, 0, 0, 0, 0, 0, 0, 0xf8, 0x7f})
	f.Add([]byte{9, 2, 1, 'x', 16, 7, '3', '4', '3', '1', '5', '8', '0', 1, '<', 4, 2, '0', '1'})
	f.Add([]byte{12, 3, 1, 3, 0xe2, 0x80, 0xa8, 7, 0, 0, 0x80, 0x7f, 8, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{10, 1, 0, 17, 9, ' ', '{', '"', 'a', '"', ':', '<', '}', ' '})
	f.Fuzz(func(t *testing.T, data []byte) {
		fv := &fuzzValues{data: data}
		out, _ := fv.value(0).(map[string]any)
		checkEncode(t, envelope{Output: out})
		if len(data) > 0 && data[0]&1 == 1 {
			checkEncode(t, envelope{Error: string(fv.bytes()), Kind: string(fv.bytes())})
		}
	})
}

func BenchmarkDecodeInput(b *testing.B) {
	in := []byte(warmInput)
	for b.Loop() {
		if _, err := decodeInput(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	in, err := decodeInput([]byte(warmInput))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		encode(envelope{Output: in})
	}
}
