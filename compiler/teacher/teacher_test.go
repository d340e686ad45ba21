package teacher

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sgde-project/sgde/compiler/edit"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime/llm"
)

func zeroShot() *plans.Plan {
	return &plans.Plan{
		APIVersion: plans.APIVersion, Kind: plans.KindPlan, Metadata: plans.Metadata{Name: "zs"},
		Inputs: []plans.Input{{Name: "question", Type: plans.TypeString}},
		Output: "answer",
		Nodes: []plans.Node{{ID: "answer", Substrate: plans.SubstrateLLM,
			LLM: &plans.LLMNode{Prompt: "Q: {{ inputs.question }}\nA:", Parser: plans.Parser{Type: plans.ParserNumber}}}},
	}
}

func evidence(wrong, parse, pass int) []NodeEvidence {
	ev := NodeEvidence{Node: "answer"}
	for i := 0; i < wrong; i++ {
		ev.Failing = append(ev.Failing, Example{Item: fmt.Sprint("w", i), Prompt: "Q: w", Raw: "12", Value: 12.0, Expected: 13.0})
	}
	for i := 0; i < parse; i++ {
		ev.Failing = append(ev.Failing, Example{Item: fmt.Sprint("p", i), Prompt: "Q: p", Raw: "The answer is", Error: "parse: no number", ErrorKind: "parse", Expected: 1.0})
	}
	for i := 0; i < pass; i++ {
		ev.Passing = append(ev.Passing, Example{Item: fmt.Sprintf("r%02d", i), Prompt: fmt.Sprint("Q: r", i), Raw: fmt.Sprint(i), Value: float64(i), Expected: float64(i)})
	}
	return []NodeEvidence{ev}
}

func actions(c edit.Candidate) string {
	var s []string
	for _, e := range c.Edits {
		s = append(s, string(e.Action))
		if e.Action == edit.Consensus {
			s[len(s)-1] += fmt.Sprint(e.N)
		}
	}
	return strings.Join(s, "+")
}

func TestLibraryPropose(t *testing.T) {
	tests := []struct {
		name    string
		plan    *plans.Plan
		ev      []NodeEvidence
		allowed []edit.Action
		k       int
		want    []string
	}{
		{"numeric errors offload first", zeroShot(), evidence(5, 0, 5), nil, 3, []string{"offload", "consensus3", "refine_prompt"}},
		{"parse errors refine", zeroShot(), evidence(0, 4, 5), []edit.Action{edit.RefinePrompt}, 3, []string{"refine_prompt", "refine_prompt"}},
		{"consensus only", zeroShot(), evidence(5, 0, 5), []edit.Action{edit.Consensus}, 5, []string{"consensus3"}},
		{"all correct", zeroShot(), evidence(0, 0, 5), nil, 3, nil},
		{"few-shot needs two passing", zeroShot(), evidence(3, 0, 1), []edit.Action{edit.RefinePrompt}, 3, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := Input{Plan: tt.plan, Nodes: tt.ev, Allowed: tt.allowed, K: tt.k, Round: 1}
			p1, err := NewLibrary().Propose(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			p2, _ := NewLibrary().Propose(context.Background(), in)
			var got, again []string
			for _, c := range p1.Candidates {
				got = append(got, actions(c))
				if _, err := edit.Apply(tt.plan, c.Edits...); err != nil {
					t.Errorf("candidate %s does not apply: %v", actions(c), err)
				}
			}
			for _, c := range p2.Candidates {
				again = append(again, actions(c))
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("candidates = %v, want %v", got, tt.want)
			}
			if fmt.Sprint(got) != fmt.Sprint(again) {
				t.Errorf("not deterministic: %v then %v", got, again)
			}
			if p1.Critique["answer"] == "" {
				t.Error("no critique for the node")
			}
		})
	}
}

func TestLibrarySkipsTried(t *testing.T) {
	in := Input{Plan: zeroShot(), Nodes: evidence(5, 0, 5), K: 1, Round: 2,
		Digest: func(p *plans.Plan) string { return fmt.Sprint(len(p.Nodes), p.Output) }}
	first, _ := NewLibrary().Propose(context.Background(), in)
	q, _ := edit.Apply(in.Plan, first.Candidates[0].Edits...)
	in.Tried = map[string]bool{in.Digest(q): true}
	second, _ := NewLibrary().Propose(context.Background(), in)
	if len(second.Candidates) != 1 || actions(second.Candidates[0]) == actions(first.Candidates[0]) {
		t.Fatalf("tried candidate proposed again: %v", actions(second.Candidates[0]))
	}
}

func TestLibraryConsensusGrows(t *testing.T) {
	digest := func(p *plans.Plan) string {
		n := 0
		for _, x := range p.Nodes {
			if x.Consensus != nil {
				n = x.Consensus.N
			}
		}
		return fmt.Sprint(len(p.Nodes), n)
	}
	in := Input{Plan: zeroShot(), Nodes: evidence(5, 0, 5), Allowed: []edit.Action{edit.Consensus}, K: 3, Digest: digest, Tried: map[string]bool{}}
	var sizes []int
	for round := 0; round < 4; round++ {
		p, _ := NewLibrary().Propose(context.Background(), in)
		if len(p.Candidates) == 0 {
			break
		}
		if len(p.Candidates) != 1 {
			t.Fatalf("round %d: %d consensus candidates, want one size at a time", round, len(p.Candidates))
		}
		e := p.Candidates[0].Edits[0]
		sizes = append(sizes, e.N)
		q, err := edit.Apply(in.Plan, e)
		if err != nil {
			t.Fatal(err)
		}
		in.Tried[digest(q)] = true // tried and rejected
	}
	if fmt.Sprint(sizes) != "[3 5 7]" {
		t.Fatalf("sizes over rounds = %v, want [3 5 7]", sizes)
	}
	// On an existing consensus node the next size up is proposed.
	q, _ := edit.Apply(zeroShot(), edit.Edit{Action: edit.Consensus, Node: "answer", N: 3, Vote: &plans.Vote{Method: plans.VotePlurality}})
	ev := evidence(2, 0, 5)
	ev[0].Node = "answer_vote"
	p, _ := NewLibrary().Propose(context.Background(), Input{Plan: q, Nodes: ev, Allowed: []edit.Action{edit.Consensus}, K: 3})
	if len(p.Candidates) != 1 || p.Candidates[0].Edits[0].N != 5 {
		t.Fatalf("retune candidates = %+v", p.Candidates)
	}
}

func TestLibraryConsensusChain(t *testing.T) {
	q, err := edit.Apply(zeroShot(), edit.Edit{Action: edit.Offload, Node: "answer", ID: "answer_eval", Prompt: "def solution() {{ inputs.question }}",
		Source: "package main\n", Inputs: map[string]string{"program": "answer"}, Outputs: map[string]plans.Type{"answer": plans.TypeNumber}})
	if err != nil {
		t.Fatal(err)
	}
	q.Nodes[0].LLM.Parser.Type = plans.ParserNumber // pretend: so that the evidence reads as numeric
	p, _ := NewLibrary().Propose(context.Background(), Input{Plan: q, Nodes: evidence(3, 0, 3), Allowed: []edit.Action{edit.Consensus}, K: 1})
	if len(p.Candidates) != 1 {
		t.Fatal("no candidate")
	}
	e := p.Candidates[0].Edits[0]
	if fmt.Sprint(e.Members) != "[answer answer_eval]" {
		t.Fatalf("members = %v, want the llm+code chain", e.Members)
	}
	r, err := edit.Apply(q, e)
	if err != nil || r.Output != "answer_vote" {
		t.Fatalf("apply: %v output %q", err, r.Output)
	}
}

// script is a fake teacher endpoint that replies from a list.
type script struct {
	replies []string
	calls   int
	seen    []llm.Request
}

func (s *script) Complete(_ context.Context, req llm.Request) (llm.Response, error) {
	s.seen = append(s.seen, req)
	if s.calls >= len(s.replies) {
		return llm.Response{}, fmt.Errorf("script exhausted: %w", llm.ErrUnavailable)
	}
	r := s.replies[s.calls]
	s.calls++
	return llm.Response{Text: r, Usage: llm.Usage{TotalTokens: 100}}, nil
}

const valid = `{"critique":{"answer":"bad sums"},"candidates":[{"rationale":"vote","edits":[{"action":"consensus","node":"answer","n":3,"vote":{"method":"plurality"}}]}]}`

func TestLLMTeacher(t *testing.T) {
	tests := []struct {
		name      string
		replies   []string
		allowed   []edit.Action
		wantCands int
		wantCalls int
		problem   string
	}{
		{"valid first time", []string{"<think>hmm</think>```json\n" + valid + "\n```"}, nil, 1, 1, ""},
		{"repaired", []string{"{not json", valid}, nil, 1, 2, "repaired reply accepted"},
		{"malformed twice", []string{"{not json", "still not json"}, nil, 0, 2, "repaired reply rejected"},
		{"action not allowed then fixed", []string{valid, valid}, []edit.Action{edit.Offload}, 0, 2, "not allowed"},
		{"salvage valid candidates", []string{`{"candidates":[{"edits":[{"action":"consensus","node":"a","n":1}]}]}`,
			`{"candidates":[{"edits":[{"action":"consensus","node":"a","n":99}]},{"edits":[{"action":"consensus","node":"answer","n":3,"vote":{"method":"median"}}]}]}`},
			nil, 1, 2, "kept 1 valid candidates"},
		{"repair call fails", []string{"garbage"}, nil, 0, 1, "repair request failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &script{replies: tt.replies}
			tch := NewLLM(s, "fake", 0)
			p, err := tch.Propose(context.Background(), Input{Plan: zeroShot(), Nodes: evidence(2, 1, 2), Allowed: tt.allowed, K: 3, Round: 1})
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Candidates) != tt.wantCands || s.calls != tt.wantCalls {
				t.Fatalf("candidates %d calls %d, want %d and %d; problems %v", len(p.Candidates), s.calls, tt.wantCands, tt.wantCalls, p.Problems)
			}
			if tt.problem != "" && !strings.Contains(strings.Join(p.Problems, "\n"), tt.problem) {
				t.Fatalf("problems %v lack %q", p.Problems, tt.problem)
			}
			if p.Tokens != int64(100*min(len(tt.replies), tt.wantCalls)) {
				t.Errorf("tokens = %d", p.Tokens)
			}
		})
	}
}

func TestLLMTeacherBudget(t *testing.T) {
	s := &script{replies: []string{valid, valid}}
	tch := NewLLM(s, "fake", 100)
	if _, err := tch.Propose(context.Background(), Input{Plan: zeroShot(), K: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := tch.Propose(context.Background(), Input{Plan: zeroShot(), K: 1}); !errors.Is(err, ErrBudget) {
		t.Fatalf("second round err = %v, want ErrBudget", err)
	}
}

func TestLLMPromptHidesNothingItShouldNotShow(t *testing.T) {
	s := &script{replies: []string{valid}}
	ev := evidence(1, 0, 1)
	ev[0].Failing[0].Inputs = map[string]any{"question": "how many?"}
	if _, err := NewLLM(s, "fake", 0).Propose(context.Background(), Input{Plan: zeroShot(), Nodes: ev, K: 1}); err != nil {
		t.Fatal(err)
	}
	user := s.seen[0].Messages[1].Content
	for _, want := range []string{"## Node answer", "expected 13", "reply: 12"} {
		if !strings.Contains(user, want) {
			t.Errorf("teacher prompt lacks %q", want)
		}
	}
}
