package simulator

import (
	"errors"
	"strings"
	"sync"
	"testing"
)

var (
	sliceOnce sync.Once
	sliceK    *Knowledge
	sliceErr  error
)

// slice loads the repository's GSM-Hard slice once per test binary.
func slice(t testing.TB) *Knowledge {
	t.Helper()
	sliceOnce.Do(func() { sliceK, sliceErr = LoadKnowledgeFile("../../" + DefaultKnowledgePath) })
	if sliceErr != nil {
		t.Fatalf("load slice: %v", sliceErr)
	}
	return sliceK
}

func TestLoadSlice(t *testing.T) {
	k := slice(t)
	if k.Len() != 400 || k.Duplicates() != 0 {
		t.Fatalf("Len=%d Duplicates=%d, want 400 and 0", k.Len(), k.Duplicates())
	}
	for i := range k.Len() {
		r := k.Record(i)
		if strings.Contains(r.Program, `"""`) || strings.Contains(r.Program, "'''") {
			t.Fatalf("record %d: docstring left in program:\n%s", r.Idx, r.Program)
		}
		if !strings.HasPrefix(r.Program, "def solution():\n") || !strings.Contains(r.Program, "return") {
			t.Fatalf("record %d: program lost its shape:\n%s", r.Idx, r.Program)
		}
		if got, ok := k.Find(r.Input); !ok || got != i {
			t.Fatalf("record %d: Find(own question) = %d, %v", r.Idx, got, ok)
		}
	}
}

func TestFind(t *testing.T) {
	k := slice(t)
	q0, q1, q2 := k.Record(0).Input, k.Record(1).Input, k.Record(2).Input
	tests := []struct {
		name   string
		prompt string
		want   int // -1: unknown
	}{
		{"exact", q1, 1},
		{"case, spacing and punctuation", "QUESTION:\n\n  " + strings.ToUpper(strings.ReplaceAll(q1, " ", "\n\t ")) + " ???", 1},
		{"few-shot: last known question wins", "Q: " + q0 + "\nA: 18\n\nQ: " + q2 + "\nA: 540\n\nQ: " + q1 + "\nA:", 1},
		{"demonstration after is still later", "Q: " + q1 + "\nA:\n(" + q0 + ")", 0},
		{"question cut short is unknown", q1[:len(q1)/2], -1},
		{"glued to a word is unknown", "x" + q1, -1},
		{"unrelated", "What is 2 + 2?", -1},
		{"empty", "", -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := k.Find(tc.prompt)
			if tc.want < 0 {
				if ok {
					t.Fatalf("Find = %d, want unknown", got)
				}
				return
			}
			if !ok || got != tc.want {
				t.Fatalf("Find = %d, %v; want %d", got, ok, tc.want)
			}
		})
	}
}

func TestParseKnowledgeErrors(t *testing.T) {
	const code = `"def solution():\n    return 1"`
	tests := []struct {
		name, input, want string
	}{
		{"not json", `{"input":`, "line 1"},
		{"missing input", `{"code":` + code + `,"target":1}`, "missing input"},
		{"code without solution", `{"input":"a b c d e","code":"x = 1","target":1}`, "solution()"},
		{"object target", `{"input":"a b c d e","code":` + code + `,"target":{}}`, "target must be a number or a string"},
		{"missing target", `{"input":"a b c d e","code":` + code + `}`, "missing target"},
		{"recorded not strings", `{"input":"a b c d e","target":"x","recorded":{"direct":1}}`, "recorded.direct"},
		{"short question", `{"input":"how much?","code":` + code + `,"target":1}`, "fewer than 4 words"},
		{"two values", `{"input":"a b c d e","code":` + code + `,"target":1} {}`, "more than one"},
		{"empty", "\n\n", "no records"},
		{"second line bad", `{"input":"a b c d e","code":` + code + `,"target":1}` + "\n" + `[]`, "line 2"},
		{"too long", `{"input":"` + strings.Repeat("a ", maxRecordBytes) + `"}`, "longer than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseKnowledge(strings.NewReader(tc.input))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
			if !errors.Is(err, ErrKnowledge) && tc.name != "too long" && !strings.Contains(err.Error(), "no records") {
				t.Fatalf("err = %v, want ErrKnowledge", err)
			}
		})
	}
}

func TestParseKnowledgeDuplicates(t *testing.T) {
	rec := `{"input":"Tom has 3 apples and eats 1.","code":"def solution():\n    return 2","target":2}`
	dup := `{"input":"tom HAS 3 apples, and eats 1!","code":"def solution():\n    return 5","target":5}`
	k, err := ParseKnowledge(strings.NewReader(rec + "\n" + dup + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if k.Len() != 1 || k.Duplicates() != 1 || k.Record(0).Target != 2 {
		t.Fatalf("Len=%d Duplicates=%d Target=%v; want the first record kept", k.Len(), k.Duplicates(), k.Record(0).Target)
	}
}

func TestStripDocstring(t *testing.T) {
	tests := []struct{ in, want string }{
		{"\ndef solution():\n    \"\"\"Original question?\"\"\"\n    a = 1\n    return a\n\n\n", "def solution():\n    a = 1\n    return a"},
		{"def solution():\n    '''multi\n    line'''\n    return 2", "def solution():\n    return 2"},
		{"def solution():\n    return 3  \n", "def solution():\n    return 3"},
	}
	for _, tc := range tests {
		if got := stripDocstring(tc.in); got != tc.want {
			t.Errorf("stripDocstring(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Janet’s ducks lay 16 eggs.", "janet s ducks lay 16 eggs"},
		{"  A\n\tB  ", "a b"},
		{"ÉCOLE à 3,5 €", "école à 3 5"},
		{"!!!", ""},
	}
	for _, tc := range tests {
		if got := normalize(tc.in); got != tc.want {
			t.Errorf("normalize(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestMaxDigits(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"no numbers", 1},
		{"3 apples and 12 pears", 2},
		{"1,234,567 bolts cost $2.50", 7},
		{"0.125 of 40", 2},
	}
	for _, tc := range tests {
		if got := maxDigits(tc.in); got != tc.want {
			t.Errorf("maxDigits(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func FuzzFind(f *testing.F) {
	k := slice(f)
	f.Add(k.Record(3).Input, "prefix ", " suffix")
	f.Add("", "", "")
	f.Add("¿Qué?", "\x00\xff", "日本")
	f.Fuzz(func(t *testing.T, text, pre, post string) {
		n := normalize(text)
		if normalize(n) != n {
			t.Fatalf("normalize is not idempotent on %q", text)
		}
		k.Find(text) // must not panic
		// A known question stays found whatever surrounds it, unless it is glued to a word or
		// another known question follows it.
		q := k.Record(3).Input
		got, ok := k.Find(pre + " " + q + " " + post)
		if !ok {
			t.Fatalf("question 3 not found inside %q ... %q", pre, post)
		}
		if got != 3 {
			if _, later := k.Find(post); !later {
				t.Fatalf("found %d, want 3 (nothing known follows it)", got)
			}
		}
	})
}
