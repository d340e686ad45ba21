package teacher

import (
	"context"
	"strings"
	"testing"

	"github.com/sgde-project/sgde/compiler/edit"
	"github.com/sgde-project/sgde/compiler/task"
	"github.com/sgde-project/sgde/plans"
)

// TestLibrarySynthesis: with synthesis on and the catalogue off, the library teacher's first
// candidate for each task is a synthesised code node using the primitive the task needs, no
// catalogue module is proposed, and renaming the plan and its labels changes nothing (diagnosis
// from traces only). compiler/synth checks the programs on unseen items.
func TestLibrarySynthesis(t *testing.T) {
	for _, tc := range []struct{ task, data, want string }{
		{"cleanup/phone.yaml", "tasks/cleanup/phone.jsonl", "fillDigits"},
		{"cleanup/invoice.yaml", "tasks/cleanup/invoice.jsonl", "formatCents"},
		{"cleanup/dates.yaml", "tasks/cleanup/dates.jsonl", "formatDate"},
		{"bbh/word_sorting.yaml", "bbh/word_sorting.jsonl", "sortAsc"},
		{"bbh/multistep_arithmetic_two.yaml", "bbh/multistep_arithmetic_two.jsonl", "evalArith"},
		{"bbh/boolean_expressions.yaml", "bbh/boolean_expressions.jsonl", "evalBool"},
	} {
		t.Run(tc.task, func(t *testing.T) {
			tk, err := task.Load("../../testdata/tasks/" + tc.task)
			if err != nil {
				t.Fatal(err)
			}
			items, err := tk.ReadItemsFile("../../testdata/" + tc.data)
			if err != nil {
				t.Fatal(err)
			}
			p, err := plans.Load(tk.PlanPath())
			if err != nil {
				t.Fatal(err)
			}
			ev := NodeEvidence{Node: "answer"}
			for _, it := range items[:24] {
				ev.Failing = append(ev.Failing, Example{Item: it.ID, Inputs: it.Inputs, Value: "?", PlanOutput: "?", Expected: it.Label})
			}
			propose := func(p *plans.Plan) Proposal {
				prop, err := Library{Synthesis: true, NoCatalogue: true}.Propose(context.Background(),
					Input{Plan: p, Nodes: []NodeEvidence{ev}, K: 3, Round: 1})
				if err != nil {
					t.Fatal(err)
				}
				return prop
			}
			prop := propose(p)
			t.Log(prop.Critique["answer"])
			if len(prop.Candidates) == 0 {
				t.Fatal("no candidate")
			}
			e := prop.Candidates[0].Edits[0]
			if e.Action != edit.Offload || !strings.Contains(e.Source, "// Program: ") || !strings.Contains(e.Source, tc.want) {
				t.Fatalf("first candidate %s, want a synthesised node using %s", e.Summary(), tc.want)
			}
			for _, c := range prop.Candidates {
				for _, e := range c.Edits {
					if catalogueEdit(e) {
						t.Errorf("catalogue module proposed with NoCatalogue: %s", e.Summary())
					}
				}
			}
			// The same program from the same traces, whatever the plan and its labels are called.
			q := *p
			q.Metadata = plans.Metadata{Name: "x"}
			if again := propose(&q); again.Candidates[0].Edits[0].Source != e.Source {
				t.Error("the plan's name changed the synthesised program")
			}
		})
	}
}
