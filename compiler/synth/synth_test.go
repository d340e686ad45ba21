package synth

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"go/format"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sgde-project/sgde/wasm"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// load reads In/Out pairs from a JSONL file with the given input and label fields.
func load(t testing.TB, path, in, out string) []Example {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ex []Example
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		ex = append(ex, Example{In: m[in].(string), Out: m[out].(string)})
	}
	return ex
}

// synthTasks are the tasks synthesis must solve: three BBH families and three clean-up tasks.
var synthTasks = []struct{ name, path, in string }{
	{"word_sorting", "../../testdata/bbh/word_sorting.jsonl", "input"},
	{"multistep_arithmetic_two", "../../testdata/bbh/multistep_arithmetic_two.jsonl", "input"},
	{"boolean_expressions", "../../testdata/bbh/boolean_expressions.jsonl", "input"},
	{"phone", "../../testdata/tasks/cleanup/phone.jsonl", "text"},
	{"invoice", "../../testdata/tasks/cleanup/invoice.jsonl", "text"},
	{"dates", "../../testdata/tasks/cleanup/dates.jsonl", "text"},
}

// TestSearchGeneralises: a program found from 24 examples is right on every one of the
// remaining items, and the same examples always give the same program.
func TestSearchGeneralises(t *testing.T) {
	for _, tc := range synthTasks {
		t.Run(tc.name, func(t *testing.T) {
			all := load(t, tc.path, tc.in, "target")
			train, unseen := all[:24], all[24:]
			p, rep, err := Search(context.Background(), train, Options{})
			t.Log(rep)
			if err != nil {
				t.Fatal(err)
			}
			p2, _, _ := Search(context.Background(), train, Options{})
			if p.String() != p2.String() {
				t.Errorf("not deterministic: %s, then %s", p, p2)
			}
			right := 0
			for _, e := range unseen {
				if got, err := Run(p, e.In); err == nil && got == e.Out {
					right++
				} else {
					t.Logf("unseen %q: got %q (%v), want %q", e.In, got, err, e.Out)
				}
			}
			if right != len(unseen) {
				t.Errorf("%s right on %d of %d unseen items", p, right, len(unseen))
			}
		})
	}
}

func TestSearchBounded(t *testing.T) {
	// No program maps these: the search must stop at its bound, say so, and name the program
	// that came closest.
	ex := []Example{{"a b", "a b"}, {"b a", "a b"}, {"c", "z333"}}
	_, rep, err := Search(context.Background(), ex, Options{MaxCandidates: 500})
	if err != ErrNotFound || rep.Candidates > 500 || rep.Stopped == "" || rep.Closest == nil || rep.Matched != 2 {
		t.Fatalf("err %v, report %s", err, rep)
	}
	t.Log(rep)
	if _, rep, err := Search(context.Background(), ex, Options{MaxCandidates: 10}); err != ErrNotFound || rep.Candidates != 10 || !strings.Contains(rep.Stopped, "candidate bound 10") {
		t.Errorf("bounded search: %v, %s", err, rep)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := Search(ctx, ex, Options{}); err != context.Canceled {
		t.Errorf("cancelled search: %v", err)
	}
}

// TestEmitGolden: the emitted node is gofmt'ed, commented and stable.
func TestEmitGolden(t *testing.T) {
	p := Program{Steps: []Step{{Prim: "afterLit", Args: []string{"List:"}}, {Prim: "words"}, {Prim: "sortAsc"}, {Prim: "joinWith", Args: []string{" "}}}}
	src, err := Emit(p, "question", 24)
	if err != nil {
		t.Fatal(err)
	}
	if f, err := format.Source([]byte(src)); err != nil || string(f) != src {
		t.Errorf("not gofmt'ed: %v", err)
	}
	golden := filepath.Join("testdata", "word_sorting.go.golden")
	if *update {
		os.MkdirAll("testdata", 0o755)
		os.WriteFile(golden, []byte(src), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != src {
		t.Errorf("emitted source differs from %s (run with -update)", golden)
	}
	// Every primitive, emitted, passes the code-node validation (imports, directives, SDK use)
	// that any code meets before it is built.
	var all []Program
	for _, p := range prims {
		var steps []Step
		switch p.in {
		case tStrs:
			steps = append(steps, Step{Prim: "words"})
		case tNum:
			steps = append(steps, Step{Prim: "evalArith"})
		case tBool:
			steps = append(steps, Step{Prim: "evalBool"})
		case tDate:
			steps = append(steps, Step{Prim: "parseDate"})
		}
		steps = append(steps, Step{Prim: p.name, Args: []string{"a", "b"}[:argCount(p)]})
		switch p.out {
		case tStrs:
			steps = append(steps, Step{Prim: "joinWith", Args: []string{" "}})
		case tNum:
			steps = append(steps, Step{Prim: "formatNumber"})
		case tBool:
			steps = append(steps, Step{Prim: "formatBool", Args: []string{"y", "n"}})
		case tDate:
			steps = append(steps, Step{Prim: "formatDate", Args: []string{"2006-01-02"}})
		}
		all = append(all, Program{Steps: steps})
	}
	for _, tc := range all {
		src, err := Emit(tc, "text", 3)
		if err != nil {
			t.Errorf("%s: %v", tc, err)
			continue
		}
		if err := wasm.Validate([]byte(src), "synth.go"); err != nil {
			t.Errorf("%s: emitted code fails validation: %v", tc, err)
		}
	}
	if _, err := Emit(Program{Steps: []Step{{Prim: "words"}}}, "q", 1); err == nil {
		t.Error("a program ending in a list emitted")
	}
}

func argCount(p prim) int {
	switch p.name {
	case "formatBool":
		return 2
	case "afterLit", "beforeLast", "fillDigits", "splitOn", "joinWith", "formatDate":
		return 1
	}
	return 0
}

func FuzzPrimitives(f *testing.F) {
	for _, s := range []string{"((1 + 2) * -3) =", "not ( True and False ) is", "Total: $1,234.50 EUR", "March 5, 2024", "(415) 555-0132", "List: b a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, p := range prims {
			if p.in != tStr {
				continue
			}
			for _, a := range p.args([]Example{{In: s, Out: s}}) {
				applyOne(p, s, a) // must return, never panic or hang
			}
		}
		if _, err := evalArith(strings.Repeat("(", 10000) + "1"); err == nil {
			t.Fatal("deep nesting accepted")
		}
	})
}
