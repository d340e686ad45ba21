package teacher

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/sgde-project/sgde/compiler/edit"
	"github.com/sgde-project/sgde/compiler/library"
	"github.com/sgde-project/sgde/plans"
)

// proposeAll returns every candidate the library teacher proposes for the plan and evidence.
func proposeAll(t *testing.T, p *plans.Plan, ev []NodeEvidence, allowed []edit.Action) []edit.Candidate {
	t.Helper()
	prop, err := NewLibrary().Propose(context.Background(), Input{Plan: p, Nodes: ev, K: 20, Round: 1, Allowed: allowed})
	if err != nil {
		t.Fatal(err)
	}
	return prop.Candidates
}

func findAction(cs []edit.Candidate, a edit.Action) (edit.Candidate, bool) {
	for _, c := range cs {
		for _, e := range c.Edits {
			if e.Action == a {
				return c, true
			}
		}
	}
	return edit.Candidate{}, false
}

func TestSplitFromEvidence(t *testing.T) {
	var tally, total, big [][3]string
	for i := range 8 {
		// The answer counts the fruit and not the chairs: a sum of some stated quantities.
		want := fmt.Sprint(i + 3)
		tally = append(tally, [3]string{fmt.Sprintf("I have %d pears, a fig, and two chairs. How many fruits do I have?", i+2), map[bool]string{true: "9", false: want}[i < 3], want})
		// The answer is every stated quantity: nothing for language to pick.
		total = append(total, [3]string{fmt.Sprintf("I have %d pears and a fig. How many fruits do I have?", i+2), map[bool]string{true: "9", false: want}[i < 3], want})
		// Products of large numbers: not a tally.
		prod := fmt.Sprint((i + 2) * 1234567)
		big = append(big, [3]string{fmt.Sprintf("A crate holds 1234567 nails. How many nails are in %d crates?", i+2), map[bool]string{true: "5", false: prod}[i < 3], prod})
	}
	tests := []struct {
		name string
		rows [][3]string
		want bool
	}{
		{"answer is a sum of some stated counts", tally, true},
		{"answer is the sum of all stated counts", total, false},
		{"answer is a product", big, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := textPlan()
			zero := 0.0
			p.Nodes[0].LLM.Sampling = &plans.Sampling{Temperature: &zero}
			c, ok := findAction(proposeAll(t, p, textEvidence(tc.rows), nil), edit.Split)
			if ok != tc.want {
				t.Fatalf("split proposed = %v, want %v (%s)", ok, tc.want, c.Rationale)
			}
			if !ok {
				return
			}
			q, err := edit.Apply(p, c.Edits...)
			if err != nil {
				t.Fatal(err)
			}
			if len(q.Nodes) != 2 || q.Nodes[0].LLM == nil || q.Nodes[0].LLM.Parser.Type != plans.ParserJSON ||
				q.Nodes[1].Code == nil || q.Nodes[1].Code.Source != library.Tally().Source || q.Output != "answer.answer" {
				t.Fatalf("split plan: %+v output %q", q.Nodes, q.Output)
			}
			if q.Nodes[0].LLM.Sampling == nil || q.Nodes[0].LLM.Sampling.Temperature == nil || *q.Nodes[0].LLM.Sampling.Temperature != 0 {
				t.Errorf("the extraction node does not keep the node's greedy sampling: %+v", q.Nodes[0].LLM.Sampling)
			}
			// Once split, the extraction node (JSON values) is not split again.
			if c2, again := findAction(proposeAll(t, q, []NodeEvidence{{Node: "answer_extract", Failing: textEvidence(tc.rows)[0].Failing, Passing: textEvidence(tc.rows)[0].Passing}}, nil), edit.Split); again {
				t.Errorf("split proposed again on the extraction node: %s", c2.Rationale)
			}
			if !strings.Contains(c.Rationale, "8 of 8") {
				t.Errorf("rationale does not give the fit: %s", c.Rationale)
			}
		})
	}
	// Split is one of the actions a compile may forbid.
	if _, ok := findAction(proposeAll(t, textPlan(), textEvidence(tally), []edit.Action{edit.RefinePrompt, edit.Consensus}), edit.Split); ok {
		t.Error("split proposed though not allowed")
	}
}

// splitPlan is textPlan after the tally split.
func splitPlan(t *testing.T) *plans.Plan {
	t.Helper()
	m := library.Tally()
	q, err := edit.Apply(textPlan(), edit.Edit{Action: edit.Split, Node: "answer", As: "answer", OutputField: "answer", Into: []plans.Node{
		{ID: "answer_extract", Substrate: plans.SubstrateLLM, LLM: &plans.LLMNode{Prompt: library.ExtractCountsPrompt("{{ inputs.question }}"), Parser: plans.Parser{Type: plans.ParserJSON}}},
		{ID: "answer", Substrate: plans.SubstrateCode, Code: &plans.CodeNode{Source: m.Source, Inputs: map[string]string{"counts": "answer_extract"}, Outputs: m.Outputs}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestFuseFromEvidence(t *testing.T) {
	// chainEvidence: 8 items, the first 4 fail; broken says how many of those fail at the hand-off
	// (the extraction does not parse) rather than with a wrong sum.
	chainEvidence := func(broken int) []NodeEvidence {
		ext := NodeEvidence{Node: "answer_extract"}
		code := NodeEvidence{Node: "answer"}
		for i := range 8 {
			in := map[string]any{"question": fmt.Sprintf("I have %d pears and two chairs. How many fruits do I have?", i+1)}
			e := Example{Item: fmt.Sprintf("i%d", i), Inputs: in, Expected: i + 1}
			c := e
			switch {
			case i < broken:
				e.Error, e.ErrorKind = "no JSON object in reply", "parse"
				ext.Failing = append(ext.Failing, e)
				continue
			case i < 4:
				e.Value = map[string]any{"pears": i + 2}
				c.Value = i + 2
				ext.Failing, code.Failing = append(ext.Failing, e), append(code.Failing, c)
			default:
				e.Value = map[string]any{"pears": i + 1}
				c.Value = i + 1
				ext.Passing, code.Passing = append(ext.Passing, e), append(code.Passing, c)
			}
		}
		return []NodeEvidence{ext, code}
	}
	for _, tc := range []struct {
		broken int
		want   bool
	}{{4, true}, {2, true}, {1, false}, {0, false}} {
		t.Run(fmt.Sprintf("%d of 4 failures at the hand-off", tc.broken), func(t *testing.T) {
			p := splitPlan(t)
			c, ok := findAction(proposeAll(t, p, chainEvidence(tc.broken), nil), edit.Fuse)
			if ok != tc.want {
				t.Fatalf("fuse proposed = %v, want %v (%s)", ok, tc.want, c.Rationale)
			}
			if !ok {
				return
			}
			q, err := edit.Apply(p, c.Edits...)
			if err != nil {
				t.Fatal(err)
			}
			if len(q.Nodes) != 1 || q.Nodes[0].LLM == nil || q.Output != "answer" || q.Nodes[0].LLM.Parser.Type != plans.ParserNumber ||
				!strings.Contains(q.Nodes[0].LLM.Prompt, "{{ inputs.question }}") {
				t.Fatalf("fused plan: %+v output %q", q.Nodes, q.Output)
			}
		})
	}
	// A code node fed by a node that others read too cannot be fused away.
	p := splitPlan(t)
	p.Nodes = append(p.Nodes, plans.Node{ID: "echo", Substrate: plans.SubstrateLLM, LLM: &plans.LLMNode{Prompt: "{{ answer_extract }}", Parser: plans.Parser{Type: plans.ParserText}}})
	if c, ok := findAction(proposeAll(t, p, chainEvidence(4), nil), edit.Fuse); ok {
		t.Errorf("fused a feeder with two consumers: %s", c.Rationale)
	}
}

func TestSubsetSums(t *testing.T) {
	for _, tc := range []struct {
		qs     []int
		target int
		want   bool
	}{
		{[]int{1, 2, 2}, 3, true},
		{[]int{1, 2, 2}, 5, true},
		{[]int{1, 2, 2}, 6, false},
		{[]int{4, 9}, 0, true},
		{[]int{0, 7}, 7, true},
		{nil, 1, false},
	} {
		if got := subsetSums(tc.qs, tc.target); got != tc.want {
			t.Errorf("subsetSums(%v, %d) = %v", tc.qs, tc.target, got)
		}
	}
	if got := statedQuantities("I have a fig, two pears and 12 plums; An apple."); fmt.Sprint(got) != "[1 2 12 1]" {
		t.Errorf("stated quantities %v", got)
	}
}

// FuzzTallyFit: the quantity reader and the subset-sum check never panic on any question, and
// agree with a brute-force search over subsets for short ones.
func FuzzTallyFit(f *testing.F) {
	f.Add("I have a fig, two pears and 12 plums. How many fruits?", 3)
	f.Add("99999999999999999999999 and a", 1)
	f.Fuzz(func(t *testing.T, q string, label int) {
		qs := statedQuantities(q)
		if label < 0 || label > maxTallySum {
			return
		}
		got := subsetSums(qs, label)
		if len(qs) > 12 {
			return
		}
		want := false
		for m := 0; m < 1<<len(qs) && !want; m++ {
			s := 0
			for i, x := range qs {
				if m&(1<<i) != 0 {
					s += x
				}
			}
			want = s == label
		}
		// Quantities above the target or not positive never help reach it, except 0 itself.
		if got != want {
			t.Fatalf("subsetSums(%v, %d) = %v, brute force %v", qs, label, got, want)
		}
	})
}

// TestDateSplitFromEvidence: the teacher proposes the date split when the options of the
// questions are calendar dates and the node picks wrong ones, whatever the task is called, and
// not when the options are something else.
func TestDateSplitFromEvidence(t *testing.T) {
	var dated, undated [][3]string
	for i := range 8 {
		q := fmt.Sprintf("Tomorrow is 11/%02d/2019. What is the date yesterday in MM/DD/YYYY?\nOptions:\n(A) 11/%02d/2019\n(B) 11/%02d/2019", i+10, i+8, i+9)
		dated = append(dated, [3]string{q, map[bool]string{true: "(B)", false: "(A)"}[i < 3], "(A)"})
		undated = append(undated, [3]string{fmt.Sprintf("Which colour is case %d?\nOptions:\n(A) red\n(B) blue", i), map[bool]string{true: "(B)", false: "(A)"}[i < 3], "(A)"})
	}
	for _, tc := range []struct {
		name string
		rows [][3]string
		want bool
	}{{"options are dates", dated, true}, {"options are words", undated, false}} {
		t.Run(tc.name, func(t *testing.T) {
			p := textPlan()
			var split []edit.Candidate
			for _, c := range proposeAll(t, p, textEvidence(tc.rows), nil) {
				if strings.Contains(c.Rationale, library.DateArith().Name) {
					split = append(split, c)
				}
			}
			if (len(split) > 0) != tc.want {
				t.Fatalf("date split proposed = %v, want %v", len(split) > 0, tc.want)
			}
			if !tc.want {
				return
			}
			q, err := edit.Apply(p, split[0].Edits...)
			if err != nil {
				t.Fatal(err)
			}
			if len(q.Nodes) != 2 || q.Nodes[0].LLM == nil || q.Nodes[0].LLM.Parser.Type != plans.ParserJSON ||
				q.Nodes[1].Code == nil || q.Nodes[1].Code.Source != library.DateArith().Source ||
				q.Nodes[1].Code.Inputs["question"] != "inputs.question" || q.Nodes[1].Code.Inputs["extraction"] != "answer_extract" || q.Output != "answer.answer" {
				t.Fatalf("split plan: %+v output %q", q.Nodes, q.Output)
			}
			// A vote over the split chain compares the picked options as text: a number vote
			// over them would be an invalid plan, and the candidate would silently vanish.
			ev := textEvidence(tc.rows)[0]
			ev.Node = "answer_extract"
			c, ok := findAction(proposeAll(t, q, []NodeEvidence{ev}, []edit.Action{edit.Consensus}), edit.Consensus)
			if !ok {
				t.Fatal("no consensus over the split chain")
			}
			if _, err := edit.Apply(q, c.Edits...); err != nil || c.Edits[0].Vote.Normalize != "text" {
				t.Fatalf("consensus over the split chain: %v, vote %+v", err, c.Edits[0].Vote)
			}
		})
	}
	if !library.OptionsAreDates("Q?\nOptions:\n(A) 02/29/2016\n(B) 2016-03-01") || library.OptionsAreDates("Q?\n(A) 02/30/2016\n(B) 03/01/2016") ||
		library.OptionsAreDates("no options 02/28/2016") {
		t.Error("OptionsAreDates wrong")
	}
}
