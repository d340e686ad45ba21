package solvers

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSolversTable(t *testing.T) {
	tests := []struct {
		solver, q, want string
	}{
		{"bool_eval", "not ( True ) and ( True ) is", "False"},
		{"bool_eval", "True or False and False is", "True"},
		{"bool_eval", "not not not False", "True"},
		{"bool_eval", "( ( not ( True ) ) ) is", "False"},
		{"bracket_close", "Complete the sequence. Input: [ ( < > { }", ") ]"},
		{"bracket_close", "Input: { [ ] ( ( ) )", "}"},
		{"arith_expr", "((-5 - 6 * 2 + 4) - (1 - 9 - 0 * 5)) =", "-5"},
		{"arith_expr", "(1 / 4) =", "0.25"},
		{"arith_expr", "-(-2) * -3", "-6"},
		{"sort_words", "Sort the following words alphabetically: List: pear apple fig", "apple fig pear"},
		{"grid_walk", "If you follow these instructions, do you return to the starting point? Take 2 steps. Turn around. Take 2 steps.\nOptions:\n- Yes\n- No", "Yes"},
		{"grid_walk", "If you follow these instructions, do you return to the starting point? Always face forward. Take 1 step left. Take 1 step forward.\nOptions:\n- Yes\n- No", "No"},
		{"grid_walk", "If you follow these instructions, do you return to the starting point? Turn left. Take 3 steps. Turn left. Turn left. Take 3 steps.\nOptions:\n- Yes\n- No", "Yes"},
		{"swap_track", "A, B. At the start: Alice has a red ball, Bob has a blue ball, and Eve has a green ball.\nFirst, Alice and Eve swap balls. Finally, Bob and Alice swap balls. At the end of the game, Alice has the\nOptions:\n(A) red ball\n(B) blue ball\n(C) green ball", "(B)"},
		{"truth_chain", "Question: Ann lies. Bo says Ann lies. Cy says Bo lies. Does Cy tell the truth?", "No"},
		{"truth_chain", "Question: Ann tells the truth. Bo says Ann lies. Does Bo tell the truth?", "No"},
	}
	for _, tc := range tests {
		f, ok := ByName(tc.solver)
		if !ok {
			t.Fatalf("no solver %s", tc.solver)
		}
		got, err := f(tc.q)
		if err != nil || got != tc.want {
			t.Errorf("%s(%q) = %q, %v; want %q", tc.solver, tc.q, got, err, tc.want)
		}
	}
}

func TestSolversRefuse(t *testing.T) {
	for _, tc := range []struct{ solver, q string }{
		{"bool_eval", "Is the sky blue or green?"},
		{"bracket_close", "Input: ( ]"},
		{"bracket_close", "no brackets here"},
		{"arith_expr", "How many apples are 3 + 4?"},
		{"arith_expr", "1 / 3 ="},
		{"arith_expr", "1 / 0"},
		{"sort_words", "List: b a"},
		{"grid_walk", "Take 2 steps. Jump."},
		{"swap_track", "Alice has a ball."},
		{"truth_chain", "Is this plausible? Joe scored a goal."},
	} {
		f, _ := ByName(tc.solver)
		if got, err := f(tc.q); err == nil {
			t.Errorf("%s(%q) = %q, want an error", tc.solver, tc.q, got)
		}
	}
	if _, err := BoolEval("a b"); err == nil || !strings.Contains(err.Error(), ErrNotApplicable.Error()) {
		t.Errorf("BoolEval not applicable: %v", err)
	}
}

// TestSolversOnRecordedData runs every solver on every shipped BBH item and reports, per data
// file, how many items each solver answers correctly. A solver must be exact wherever it is
// the right tool: at least 98% of the items of some file, and it must never crash.
func TestSolversOnRecordedData(t *testing.T) {
	files, _ := filepath.Glob("../../../testdata/bbh/*.jsonl")
	if len(files) == 0 {
		t.Skip("no BBH data")
	}
	best := map[string]float64{}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 1<<20)
		var items []struct{ Input, Target string }
		for sc.Scan() {
			var it struct{ Input, Target string }
			if err := json.Unmarshal(sc.Bytes(), &it); err != nil {
				t.Fatal(err)
			}
			items = append(items, it)
		}
		fh.Close()
		for _, name := range Names() {
			fn, _ := ByName(name)
			ok := 0
			for _, it := range items {
				if got, err := fn(it.Input); err == nil && got == it.Target {
					ok++
				}
			}
			acc := float64(ok) / float64(len(items))
			if acc > 0 {
				t.Logf("%-14s %-45s %d/%d", name, filepath.Base(f), ok, len(items))
			}
			best[name] = max(best[name], acc)
		}
	}
	for _, name := range Names() {
		if best[name] < 0.98 {
			t.Errorf("%s: best file accuracy %.3f, want >= 0.98", name, best[name])
		}
	}
}

// FuzzSolvers: no input makes a solver panic, and an answer is never empty.
func FuzzSolvers(f *testing.F) {
	for _, s := range []string{"not ( True ) and ( True ) is", "Input: [ ( <", "((-5 - 6 * 2 + 4) - 1) =", "Sort: b a",
		"If you follow these instructions, do you return to the starting point? Take 1 step.\nOptions:\n- Yes\n- No",
		"At the start: Alice has x, and Bob has y.\nAlice and Bob swap. At the end, Alice has the\nOptions:\n(A) x\n(B) y",
		"Question: A lies. B says A lies. Does B tell the truth?", "(((((((", "1/0", "9" + strings.Repeat("*9", 200)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		for _, name := range Names() {
			fn, _ := ByName(name)
			if got, err := fn(q); err == nil && strings.TrimSpace(got) == "" {
				t.Fatalf("%s(%q) = empty answer", name, q)
			}
		}
	})
}
