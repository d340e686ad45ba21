package plans

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
)

func TestParseRef(t *testing.T) {
	tests := []struct {
		in   string
		want Ref
		bad  bool
	}{
		{in: "inputs.question", want: Ref{Input: "question"}},
		{in: "write", want: Ref{Node: "write"}},
		{in: "evaluate.answer", want: Ref{Node: "evaluate", Field: "answer"}},
		{in: "step-2.out_1", want: Ref{Node: "step-2", Field: "out_1"}},
		{in: "inputs", bad: true},
		{in: "inputs.a.b", bad: true},
		{in: "a.b.c", bad: true},
		{in: " write", bad: true},
		{in: "2nd", bad: true},
		{in: "", bad: true},
		{in: "a..b", bad: true},
	}
	for _, tc := range tests {
		got, err := ParseRef(tc.in)
		if tc.bad {
			if !errors.Is(err, ErrRef) {
				t.Errorf("ParseRef(%q) = %v, %v; want ErrRef", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseRef(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
		if got.String() != tc.in {
			t.Errorf("ParseRef(%q).String() = %q", tc.in, got.String())
		}
	}
}

func TestRender(t *testing.T) {
	values := map[string]any{
		"inputs.q": "What is 2+2?",
		"n":        json.Number("12345678901234567890"),
		"f":        1e21,
		"obj":      map[string]any{"b": 1, "a": "<x>"},
	}
	lookup := func(r Ref) (any, error) {
		v, ok := values[r.String()]
		if !ok {
			return nil, fmt.Errorf("no value")
		}
		return v, nil
	}
	tests := []struct{ tmpl, want string }{
		{"Q: {{ inputs.q }}", "Q: What is 2+2?"},
		{"{{n}} and {{  f  }}", "12345678901234567890 and 1000000000000000000000"},
		{"{{ obj }}", `{"a":"<x>","b":1}`},
		{"literal {{{{ not a ref }}", "literal {{ not a ref }}"},
		{"single { braces } and }} stay", "single { braces } and }} stay"},
		{"", ""},
	}
	for _, tc := range tests {
		got, err := Render(tc.tmpl, lookup)
		if err != nil || got != tc.want {
			t.Errorf("Render(%q) = %q, %v; want %q", tc.tmpl, got, err, tc.want)
		}
	}
	for _, bad := range []string{"{{ missing }}", "{{ inputs.q", "{{ a b }}", "{{{ inputs.q }}"} {
		if _, err := Render(bad, lookup); err == nil {
			t.Errorf("Render(%q) succeeded, want an error", bad)
		}
	}
	refs, err := TemplateRefs("{{ a }} {{ inputs.x }} {{ a.f }}")
	if err != nil || len(refs) != 3 || refs[0] != (Ref{Node: "a"}) || refs[1] != (Ref{Input: "x"}) || refs[2] != (Ref{Node: "a", Field: "f"}) {
		t.Errorf("TemplateRefs = %v, %v", refs, err)
	}
}
