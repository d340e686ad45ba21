package teacher

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sgde-project/sgde/compiler/edit"
	"github.com/sgde-project/sgde/plans"
)

// textPlan is a generic question-in, answer-out plan with a text parser.
func textPlan() *plans.Plan {
	p := zeroShot()
	p.Nodes[0].LLM.Prompt = "Answer the question. Reply with only the answer.\n\nQ: {{ inputs.question }}\nA:"
	p.Nodes[0].LLM.Parser = plans.Parser{Type: plans.ParserText}
	return p
}

// textEvidence builds evidence from (question, reply, label) triples; a reply equal to its
// label passes.
func textEvidence(rows [][3]string) []NodeEvidence {
	ev := NodeEvidence{Node: "answer"}
	for i, r := range rows {
		ex := Example{Item: fmt.Sprintf("i%02d", i), Inputs: map[string]any{"question": r[0]}, Prompt: "Q: " + r[0], Raw: r[1], Value: r[1], Expected: r[2]}
		if r[1] == r[2] {
			ev.Passing = append(ev.Passing, ex)
		} else {
			ev.Failing = append(ev.Failing, ex)
		}
	}
	return []NodeEvidence{ev}
}

func TestLibraryDecidesFromTraces(t *testing.T) {
	var boolRows, optRows, freeRows, countRows [][3]string
	for i := range 8 {
		q := "not ( True and False ) or False is"
		if i%2 == 1 {
			q = "True and not True is"
		}
		want := map[bool]string{true: "True", false: "False"}[i%2 == 0]
		reply := want
		if i < 3 {
			reply = map[bool]string{true: "False", false: "True"}[i%2 == 0]
		}
		boolRows = append(boolRows, [3]string{q, reply, want})
		optRows = append(optRows, [3]string{fmt.Sprintf("Which one is it, case %d?\nOptions:\n(A) x\n(B) y", i), map[bool]string{true: "The answer is (A).", false: "(B)"}[i < 4], "(B)"})
		countRows = append(countRows, [3]string{fmt.Sprintf("I have %d pears and a fig. How many fruits do I have?", i+2), map[bool]string{true: "7", false: fmt.Sprint(i + 3)}[i < 3], fmt.Sprint(i + 3)})
		freeRows = append(freeRows, [3]string{fmt.Sprintf("Name a colour, case %d.", i), map[bool]string{true: "red", false: "blue"}[i < 3], "blue"})
	}
	tests := []struct {
		name     string
		rows     [][3]string
		wantTop  string // rationale fragment of the first candidate
		wantAlso []string
		never    []string
	}{
		// The questions are boolean expressions: the vetted solver answers all of them, so the
		// teacher proposes full offload first, whatever the task is called.
		{"computable from text", boolRows, "bool_eval", []string{"step by step"}, nil},
		// Option labels, replies in other words: chain of thought and the option parser.
		{"option answers", optRows, "step by step", []string{"option"}, []string{"vetted solver"}},
		// Numeric labels a text node gets wrong: program-aided offload, alone and voted.
		{"numbers", countRows, "write the program", []string{"5 samples voting", "step by step"}, []string{"vetted solver"}},
		// Free text no solver computes: no offload, chain of thought first.
		{"free text", freeRows, "step by step", nil, []string{"vetted solver", "option"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prop, err := NewLibrary().Propose(context.Background(), Input{Plan: textPlan(), Nodes: textEvidence(tc.rows), K: 6, Round: 1})
			if err != nil {
				t.Fatal(err)
			}
			if len(prop.Candidates) == 0 {
				t.Fatal("no candidates")
			}
			var all []string
			for _, c := range prop.Candidates {
				all = append(all, c.Rationale)
				if _, err := edit.Apply(textPlan(), c.Edits...); err != nil {
					t.Errorf("candidate %q does not apply: %v", c.Rationale, err)
				}
			}
			joined := strings.Join(all, "\n")
			if !strings.Contains(prop.Candidates[0].Rationale, tc.wantTop) {
				t.Errorf("first candidate %q, want it to mention %q; all:\n%s", prop.Candidates[0].Rationale, tc.wantTop, joined)
			}
			for _, w := range tc.wantAlso {
				if !strings.Contains(joined, w) {
					t.Errorf("no candidate mentions %q:\n%s", w, joined)
				}
			}
			for _, w := range tc.never {
				if strings.Contains(joined, w) {
					t.Errorf("a candidate mentions %q:\n%s", w, joined)
				}
			}
		})
	}
}

// TestCoTParser: the chain-of-thought parser takes the answer out of the last "the answer is".
func TestCoTParser(t *testing.T) {
	p := plans.Parser{Type: plans.ParserRegex, Pattern: answerPattern, Group: "1"}
	for raw, want := range map[string]string{
		"A then B. So the answer is (D).":                  "(D)",
		"the answer is 3? No. So the answer is -5.":        "-5",
		"We pop: ] ]. So the answer is ] ] >.":             "] ] >",
		"Sorted. So the answer is apple banana fig.\n":     "apple banana fig",
		"The answer is: Yes":                               "Yes",
		"So the answer is 08/04/2002.":                     "08/04/2002",
		"so THE ANSWER IS no.":                             "no",
		"Reasoning.\nSo the answer is True.   ":            "True",
		"first the answer is (A), then the answer is (B).": "(B)",
	} {
		got, err := plans.ParseOutput(p, raw)
		if err != nil || got != want {
			t.Errorf("parse %q = %v, %v; want %q", raw, got, err, want)
		}
	}
}

// TestLibraryTeacherNamesNoTask greps the library teacher and its catalogue for the names of
// task families and datasets: it must diagnose from traces, so that families it has never seen
// are handled the same way.
func TestLibraryTeacherNamesNoTask(t *testing.T) {
	names := regexp.MustCompile(`(?i)bbh|big-?bench|gsm|word_sorting|dyck|boolean_expr|multistep|navigate|object_count|` +
		`date_under|tracking_shuffled|shuffled|web_of_lies|sports|family|families`)
	var files []string
	for _, dir := range []string{".", "../library", "../library/solvers"} {
		fs, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			if !strings.HasSuffix(f, "_test.go") {
				files = append(files, f)
			}
		}
	}
	if len(files) < 5 {
		t.Fatalf("found only %v", files)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "//go:generate") {
				continue // a build directive naming the file it regenerates, not a decision
			}
			if m := names.FindString(line); m != "" {
				t.Errorf("%s:%d names %q: %s", f, i+1, m, strings.TrimSpace(line))
			}
		}
	}
}
