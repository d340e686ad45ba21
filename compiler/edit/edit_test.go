package edit

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/sgde-project/sgde/plans"
)

func zeroShot() *plans.Plan {
	return &plans.Plan{
		APIVersion: plans.APIVersion,
		Kind:       plans.KindPlan,
		Metadata:   plans.Metadata{Name: "zs"},
		Inputs:     []plans.Input{{Name: "question", Type: plans.TypeString}},
		Output:     "answer",
		Nodes: []plans.Node{{
			ID: "answer", Substrate: plans.SubstrateLLM,
			LLM: &plans.LLMNode{Prompt: "Q: {{ inputs.question }}\nA:", Parser: plans.Parser{Type: plans.ParserNumber}},
		}},
	}
}

const src = "package main\n\nfunc main() {}\n"

var palOffload = Edit{
	Action: Offload, Node: "answer", ID: "eval",
	Prompt: "Write def solution() for: {{ inputs.question }}", Source: src,
	Inputs: map[string]string{"program": "answer"}, Outputs: map[string]plans.Type{"answer": plans.TypeNumber},
}

func TestApply(t *testing.T) {
	tests := []struct {
		name    string
		edits   []Edit
		check   func(t *testing.T, p *plans.Plan)
		wantErr string
	}{
		{
			name:  "refine prompt",
			edits: []Edit{{Action: RefinePrompt, Node: "answer", Prompt: "Q: {{ inputs.question }}\nReply with one number.", Examples: []plans.Example{{User: "1+1", Assistant: "2"}}}},
			check: func(t *testing.T, p *plans.Plan) {
				if !strings.Contains(p.Nodes[0].LLM.Prompt, "one number") || len(p.Nodes[0].LLM.Examples) != 1 {
					t.Errorf("prompt not refined: %+v", p.Nodes[0].LLM)
				}
				if p.Nodes[0].LLM.Parser.Type != plans.ParserNumber {
					t.Error("parser changed though not asked")
				}
			},
		},
		{
			name:  "offload in place",
			edits: []Edit{{Action: Offload, Node: "answer", Source: src, Inputs: map[string]string{"q": "inputs.question"}, Outputs: map[string]plans.Type{"value": plans.TypeNumber}}},
			check: func(t *testing.T, p *plans.Plan) {
				if p.Nodes[0].Substrate != plans.SubstrateCode || p.Nodes[0].LLM != nil || p.Output != "answer.value" {
					t.Errorf("bad offload: %+v output %q", p.Nodes[0], p.Output)
				}
			},
		},
		{
			name:  "offload with program prompt",
			edits: []Edit{palOffload},
			check: func(t *testing.T, p *plans.Plan) {
				if len(p.Nodes) != 2 || p.Nodes[1].ID != "eval" || p.Output != "eval.answer" {
					t.Fatalf("bad PAL plan: %+v output %q", p.Nodes, p.Output)
				}
				if p.Nodes[0].LLM.Parser.Type != plans.ParserCode {
					t.Errorf("program parser = %q", p.Nodes[0].LLM.Parser.Type)
				}
				if p.Nodes[1].Code.Inputs["program"] != "answer" {
					t.Errorf("code input rewritten: %v", p.Nodes[1].Code.Inputs)
				}
			},
		},
		{
			name: "consensus over PAL chain",
			edits: []Edit{palOffload, {Action: Consensus, Node: "answer", Members: []string{"answer", "eval"}, N: 5,
				Perturbations: &plans.Perturbations{Temperatures: []float64{0.7}}, Vote: &plans.Vote{Method: plans.VotePlurality}}},
			check: func(t *testing.T, p *plans.Plan) {
				c := p.Nodes[2]
				if c.ID != "answer_vote" || c.Consensus.Over != "eval.answer" || p.Output != "answer_vote" {
					t.Fatalf("bad consensus: %+v output %q", c, p.Output)
				}
			},
		},
		{
			name: "retune consensus",
			edits: []Edit{{Action: Consensus, Node: "answer", N: 3, Vote: &plans.Vote{Method: plans.VoteMedian}},
				{Action: Consensus, Node: "answer_vote", N: 7, Vote: &plans.Vote{Method: plans.VotePlurality}}},
			check: func(t *testing.T, p *plans.Plan) {
				if c := p.Nodes[1].Consensus; c.N != 7 || c.Vote.Method != plans.VotePlurality || p.Output != "answer_vote" {
					t.Fatalf("bad retune: %+v", c)
				}
			},
		},
		{
			name: "split",
			edits: []Edit{{Action: Split, Node: "answer", Into: []plans.Node{
				{ID: "facts", Substrate: plans.SubstrateLLM, LLM: &plans.LLMNode{Prompt: "List the quantities in {{ inputs.question }}", Parser: plans.Parser{Type: plans.ParserText}}},
				{ID: "solve", Substrate: plans.SubstrateLLM, LLM: &plans.LLMNode{Prompt: "{{ facts }} {{ inputs.question }}", Parser: plans.Parser{Type: plans.ParserNumber}}},
			}}},
			check: func(t *testing.T, p *plans.Plan) {
				if len(p.Nodes) != 2 || p.Output != "solve" {
					t.Fatalf("bad split: output %q", p.Output)
				}
			},
		},
		{
			name: "split into extraction and code, consumers read its answer field",
			edits: []Edit{{Action: Split, Node: "answer", As: "answer", OutputField: "answer", Into: []plans.Node{
				{ID: "answer_extract", Substrate: plans.SubstrateLLM, LLM: &plans.LLMNode{Prompt: "Count in {{ inputs.question }}", Parser: plans.Parser{Type: plans.ParserJSON}}},
				{ID: "answer", Substrate: plans.SubstrateCode, Code: &plans.CodeNode{Source: src, Inputs: map[string]string{"counts": "answer_extract"}, Outputs: map[string]plans.Type{"answer": plans.TypeInteger}}},
			}}},
			check: func(t *testing.T, p *plans.Plan) {
				if len(p.Nodes) != 2 || p.Output != "answer.answer" || p.Nodes[1].Code.Inputs["counts"] != "answer_extract" {
					t.Fatalf("bad split: %+v output %q", p.Nodes, p.Output)
				}
			},
		},
		{
			name: "fuse",
			edits: []Edit{palOffload, {Action: Fuse, Nodes: []string{"answer", "eval"}, Fused: &plans.Node{
				ID: "direct", Substrate: plans.SubstrateLLM, LLM: &plans.LLMNode{Prompt: "{{ inputs.question }}", Parser: plans.Parser{Type: plans.ParserNumber}}}}},
			check: func(t *testing.T, p *plans.Plan) {
				if len(p.Nodes) != 1 || p.Output != "direct" {
					t.Fatalf("bad fuse: %+v output %q", p.Nodes, p.Output)
				}
			},
		},
		{name: "unknown node", edits: []Edit{{Action: RefinePrompt, Node: "nope", Prompt: "x"}}, wantErr: `no node "nope"`},
		{name: "refine code node", edits: []Edit{palOffload, {Action: RefinePrompt, Node: "eval", Prompt: "x"}}, wantErr: "not llm"},
		{name: "dangling reference", edits: []Edit{{Action: RefinePrompt, Node: "answer", Prompt: "{{ ghost }}"}}, wantErr: `no node "ghost"`},
		{name: "self loop", edits: []Edit{{Action: Offload, Node: "answer", Source: src, Inputs: map[string]string{"x": "answer"}, Outputs: map[string]plans.Type{"v": plans.TypeNumber}}}, wantErr: "own output"},
		{name: "consensus n out of range", edits: []Edit{{Action: Consensus, Node: "answer", N: 99, Vote: &plans.Vote{Method: plans.VotePlurality}}}, wantErr: "n: must be between"},
		{name: "consensus first member code", edits: []Edit{palOffload, {Action: Consensus, Node: "eval", N: 3, Vote: &plans.Vote{Method: plans.VotePlurality}}}, wantErr: "must be an llm node"},
		{name: "split id clash", edits: []Edit{palOffload, {Action: Split, Node: "answer", Into: []plans.Node{{ID: "eval"}, {ID: "b"}}}}, wantErr: "already exists"},
		{name: "missing action", edits: []Edit{{Node: "answer"}}, wantErr: "action: required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := zeroShot()
			before := zeroShot()
			got, err := Apply(orig, tt.edits...)
			if !reflect.DeepEqual(orig, before) {
				t.Fatal("Apply modified its input")
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalid) {
					t.Fatalf("err = %v, want %q wrapping ErrInvalid", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, got)
		})
	}
}

func TestParseActions(t *testing.T) {
	got, err := ParseActions("prompt, offload,consensus,offload")
	if err != nil || !reflect.DeepEqual(got, []Action{RefinePrompt, Offload, Consensus}) {
		t.Fatalf("ParseActions = %v, %v", got, err)
	}
	for _, bad := range []string{"", "teleport", ","} {
		if _, err := ParseActions(bad); err == nil {
			t.Errorf("ParseActions(%q) accepted", bad)
		}
	}
}
