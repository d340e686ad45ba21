package plans

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

func TestParseNumber(t *testing.T) {
	tests := []struct {
		reply string
		want  string // "" means ErrParse
	}{
		{"42", "42"},
		{"The answer is 1,234.", "1234"},
		{"It costs $5.", "5"},
		{"roughly -3.5e6 units", "-3.5e6"},
		{"**42**", "42"},
		{"The answer is **-17**", "-17"},
		{"```\n99\n```", "99"},
		{"```python\nprint(3)\n```\nSo the result: 12", "12"},
		{"First 3 apples, then 4 more, so the answer is 7", "7"},
		{"The answer is 7. Checking: 3 + 4 = 7, and 10 - 3 = 7 too, not 8.", "7"},
		{"<think>maybe 12? or 13</think>The answer is 14", "14"},
		{"<think>I keep thinking about 5", ""},
		{"reasoning about 99 ... </think> Final answer: 3", "3"},
		{"So 45% of them", "45"},
		{"That is 10.", "10"},
		{"#### 1,234,567", "1234567"},
		{"\\boxed{2,048} and then 5", "2048"},
		{"The answer: $-5", "-5"},
		{"pages 10-12", "12"},
		{"Final answer: 3/4", "0.75"},
		{"It is 1/3 of it", "0.3333333333333333"},
		{"12345678901234567890123 exactly", "12345678901234567890123"},
		{"0.5", "0.5"},
		{".5 of a cup", "0.5"},
		{"007", "7"},
		{"no digits here", ""},
		{"", ""},
		{"the answer is x, i.e. 3 + 4 = 7", "3"},
		{"−8 degrees", "-8"},
		{"1 234", "234"}, // spaces are not thousands separators: too ambiguous in prose
		{"1\u202f234", "1234"},
		{`The answer is $\boxed{\frac{3}{4}}$`, "0.75"},
		{`\boxed{-\dfrac{1}{8}}`, "-0.125"},
		{`so \boxed{1{,}234{,}567}`, "1234567"},
		{`\boxed{1\,234}`, "1234"},
	}
	for _, tc := range tests {
		got, err := ParseOutput(Parser{Type: ParserNumber}, tc.reply)
		if tc.want == "" {
			if !errors.Is(err, ErrParse) {
				t.Errorf("ParseOutput(%q) = %v, %v; want ErrParse", tc.reply, got, err)
			}
			continue
		}
		if err != nil || got != json.Number(tc.want) {
			t.Errorf("ParseOutput(%q) = %v, %v; want %s", tc.reply, got, err, tc.want)
		}
	}
}

func TestParseInteger(t *testing.T) {
	for reply, want := range map[string]string{"7": "7", "7.0": "7", "7e3": "7000", "answer is 1,000": "1000", "7.5": "", "1e999999": ""} {
		got, err := ParseOutput(Parser{Type: ParserInteger}, reply)
		if want == "" {
			if !errors.Is(err, ErrParse) {
				t.Errorf("integer %q = %v, %v; want ErrParse", reply, got, err)
			}
			continue
		}
		if err != nil || got != json.Number(want) {
			t.Errorf("integer %q = %v, %v; want %s", reply, got, err, want)
		}
	}
}

func TestParseJSON(t *testing.T) {
	schema := map[string]any{
		"type":                 "object",
		"properties":           map[string]any{"answer": map[string]any{"type": "number"}, "unit": map[string]any{"enum": []any{"kg", "g"}}},
		"required":             []any{"answer"},
		"additionalProperties": false,
	}
	tests := []struct {
		reply string
		want  any // nil means ErrParse
	}{
		{`{"answer": 5}`, map[string]any{"answer": json.Number("5")}},
		{"Sure!\n```json\n{\"answer\": 12345678901234567890, \"unit\": \"kg\"}\n```", map[string]any{"answer": json.Number("12345678901234567890"), "unit": "kg"}},
		{`I think {broken then {"answer": 1.5}`, map[string]any{"answer": json.Number("1.5")}},
		{`{"answer": "5"}`, nil},
		{`{"answer": 5, "extra": 1}`, nil},
		{`{"unit": "kg"}`, nil},
		{`{"answer": 5, "unit": "lb"}`, nil},
		{`no json`, nil},
	}
	for _, tc := range tests {
		got, err := ParseOutput(Parser{Type: ParserJSON, Schema: schema}, tc.reply)
		if tc.want == nil {
			if !errors.Is(err, ErrParse) {
				t.Errorf("json %q = %v, %v; want ErrParse", tc.reply, got, err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("json %q = %#v, %v; want %#v", tc.reply, got, err, tc.want)
		}
	}
	got, err := ParseOutput(Parser{Type: ParserJSON}, `[1, "a"]`)
	if err != nil || !reflect.DeepEqual(got, []any{json.Number("1"), "a"}) {
		t.Errorf("json array without schema = %#v, %v", got, err)
	}
}

func TestParseRegexTextCode(t *testing.T) {
	tests := []struct {
		p     Parser
		reply string
		want  any // nil means ErrParse
	}{
		{Parser{Type: ParserRegex, Pattern: `grade: ([A-F])`, Group: "1"}, "the grade: B, clearly", "B"},
		{Parser{Type: ParserRegex, Pattern: `grade: (?P<g>[A-F])`, Group: "g"}, "grade: C", "C"},
		{Parser{Type: ParserRegex, Pattern: `\d+`}, "abc 12 d 34", "12"},
		{Parser{Type: ParserRegex, Pattern: `grade: ([A-F])`, Group: "1"}, "no grade", nil},
		{Parser{Type: ParserText}, "  hello \n", "hello"},
		{Parser{Type: ParserText}, "<think>hmm</think>  ", nil},
		{Parser{Type: ParserCode}, "Here:\n```python\ndef solution():\n    return 1\n```\nand better:\n```python\ndef solution():\n    return 2\n```\n", "def solution():\n    return 2\n"},
		{Parser{Type: ParserCode}, "def solution():\n    return 3", "def solution():\n    return 3\n"},
		{Parser{Type: ParserCode}, "```python\ndef solution():\n    return", nil},
		{Parser{Type: ParserCode}, "<think>```x```</think>```\nprint(1)\n```", "print(1)\n"},
	}
	for _, tc := range tests {
		got, err := ParseOutput(tc.p, tc.reply)
		if tc.want == nil {
			if !errors.Is(err, ErrParse) {
				t.Errorf("%s %q = %q, %v; want ErrParse", tc.p.Type, tc.reply, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s %q = %q, %v; want %q", tc.p.Type, tc.reply, got, err, tc.want)
		}
	}
}

func TestStripThink(t *testing.T) {
	for in, want := range map[string]string{
		"a<think>b</think>c":                 "ac",
		"a<THINK>b</Think>c<think>d":         "ac",
		"x</think>y":                         "y",
		"<think>a</think>b<think>c</think>d": "bd",
		"plain":                              "plain",
	} {
		if got := StripThink(in); got != want {
			t.Errorf("StripThink(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseOutput(f *testing.F) {
	for _, s := range []string{"The answer is 1,234.", "$-5", "**42**", "```json\n{\"a\":1}\n```", "<think>x", "1/0", "3/4", "1e99999999", "{[{[", "--5", "−"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, reply string) {
		for _, typ := range []ParserType{ParserNumber, ParserInteger, ParserJSON, ParserText, ParserCode} {
			v, err := ParseOutput(Parser{Type: typ}, reply)
			if err != nil {
				if !errors.Is(err, ErrParse) {
					t.Fatalf("%s: error %v does not wrap ErrParse", typ, err)
				}
				continue
			}
			if typ == ParserNumber || typ == ParserInteger {
				n, ok := v.(json.Number)
				if !ok || !json.Valid([]byte(n)) {
					t.Fatalf("%s(%q) = %#v, not a valid JSON number", typ, reply, v)
				}
			}
		}
	})
}
