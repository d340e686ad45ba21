package runtime_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/llm"
)

func TestConsensus(t *testing.T) {
	// Seeds 0..4 answer 7, 7, 8, garbage, 7: plurality 7 with three votes; the garbage sample
	// fails to parse and does not vote.
	answers := map[int64]string{0: "7", 1: "7", 2: "8", 3: "no idea", 4: "7.0"}
	var mu sync.Mutex
	var variants []string
	s := &student{answer: func(req llm.Request) (string, error) {
		mu.Lock()
		variants = append(variants, lastUser(req))
		mu.Unlock()
		return answers[*req.Sampling.Seed], nil
	}}
	r := newRunner(t, s, 8)
	res, err := r.Run(context.Background(), mustPlan(t, planConsensus), map[string]any{"question": "q"})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(res.Output) != "7" {
		t.Errorf("output = %v, want 7", res.Output)
	}
	c := res.Trace.Nodes[0].Consensus
	if c == nil || len(c.Samples) != 5 {
		t.Fatalf("consensus trace = %+v", c)
	}
	if c.Votes[0].Key != "7" || c.Votes[0].Count != 3 || c.Votes[1].Key != "8" || c.Votes[1].Count != 1 || len(c.Votes) != 2 {
		t.Errorf("votes = %+v", c.Votes)
	}
	if c.Samples[3].Error == "" || c.Samples[3].Nodes[0].ParseError == "" {
		t.Errorf("failed sample not recorded: %+v", c.Samples[3])
	}
	for i, smp := range c.Samples {
		wantVariant := []string{"Answer with a number.", "Think step by step."}[i%2]
		if !strings.HasSuffix(smp.Nodes[0].Prompt[0].Content, wantVariant) {
			t.Errorf("sample %d prompt %q lacks variant %q", i, smp.Nodes[0].Prompt[0].Content, wantVariant)
		}
	}
	if res.Trace.Calls != 5 {
		t.Errorf("calls = %d", res.Trace.Calls)
	}
}

func TestConsensusAllFail(t *testing.T) {
	s := &student{answer: func(llm.Request) (string, error) { return "", fmt.Errorf("%w: down", llm.ErrUnavailable) }}
	r := newRunner(t, s, 8)
	_, err := r.Run(context.Background(), mustPlan(t, planConsensus), map[string]any{"question": "q"})
	if runtime.KindOf(err) != runtime.KindStudentUnavailable || !strings.Contains(err.Error(), "all 5 samples failed") {
		t.Fatalf("err = %v", err)
	}
}

func TestConsensusNoMajority(t *testing.T) {
	s := &student{answer: func(req llm.Request) (string, error) { return fmt.Sprint(*req.Sampling.Seed % 3), nil }}
	r := newRunner(t, s, 8)
	plan := strings.Replace(planConsensus, "method: plurality, tie_break: first", "method: majority", 1)
	_, err := r.Run(context.Background(), mustPlan(t, plan), map[string]any{"question": "q"})
	if runtime.KindOf(err) != runtime.KindNoConsensus {
		t.Fatalf("err = %v, want no_consensus", err)
	}
}
