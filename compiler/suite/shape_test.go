package suite

import (
	"testing"

	"github.com/sgde-project/sgde/compiler/edit"
	"github.com/sgde-project/sgde/compiler/library"
	"github.com/sgde-project/sgde/plans"
)

// TestShape: the plan shapes the suite prints tell a split into extraction and a vetted module
// apart from program-aided offload, and both from reasoning and voting.
func TestShape(t *testing.T) {
	base := func() *plans.Plan {
		p, err := plans.Load("../../testdata/plans/bbh-zero-shot.yaml")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	m, date := library.ArithProgram(), library.DateArith()
	offload := edit.Edit{Action: edit.Offload, Node: "answer", ID: "answer_eval", Prompt: library.ProgramPrompt("{{ inputs.question }}"),
		Parser: &plans.Parser{Type: plans.ParserCode}, Source: m.Source, Inputs: map[string]string{"program": "answer"}, Outputs: m.Outputs, OutputField: m.Result}
	split := edit.Edit{Action: edit.Split, Node: "answer", As: "answer", OutputField: "answer", Into: []plans.Node{
		{ID: "answer_extract", Substrate: plans.SubstrateLLM, LLM: &plans.LLMNode{Prompt: library.ExtractDatePrompt("{{ inputs.question }}"), Parser: plans.Parser{Type: plans.ParserJSON}}},
		{ID: "answer", Substrate: plans.SubstrateCode, Code: &plans.CodeNode{Source: date.Source, Inputs: map[string]string{"extraction": "answer_extract", "question": "inputs.question"}, Outputs: date.Outputs}},
	}}
	vote := func(members ...string) edit.Edit {
		return edit.Edit{Action: edit.Consensus, Node: "answer", Members: members, N: 5, Perturbations: ptr(library.Perturbations(5)), Vote: ptr(library.Vote(plans.TypeString))}
	}
	for _, tc := range []struct {
		name  string
		edits []edit.Edit
		want  string
	}{
		{"zero-shot", nil, "llm"},
		{"program-aided offload", []edit.Edit{offload}, "llm→code"},
		{"split", []edit.Edit{split}, "llm(extract)→code"},
		{"voted split", []edit.Edit{split, vote("answer_extract", "answer")}, "consensus(llm(extract)→code)"},
	} {
		p, err := edit.Apply(base(), tc.edits...)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := Shape(p); got != tc.want {
			t.Errorf("%s: shape %q, want %q", tc.name, got, tc.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }
