package teacher

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sgde-project/sgde/runtime/llm"
	"github.com/sgde-project/sgde/runtime/llm/llmtest"
)

// TestLLMTeacherOverHTTP drives the LLM teacher through the real OpenAI-compatible client
// against a test endpoint: the request carries the plan and the evidence, the reply (wrapped in
// prose and a think block) yields the candidate, and a dead endpoint is an error, not a panic.
func TestLLMTeacherOverHTTP(t *testing.T) {
	srv := llmtest.NewServer()
	t.Cleanup(srv.Close)
	srv.Answer = func(req llmtest.Request) string {
		return "<think>the node does arithmetic</think>Here is my proposal:\n```json\n" + valid + "\n```"
	}
	cl, err := llm.New(llm.NewConfig(srv.BaseURL(), "teacher-model").WithRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	tch := NewLLM(cl, "teacher-model", 0)
	p, err := tch.Propose(context.Background(), Input{Plan: zeroShot(), Nodes: evidence(2, 1, 2), K: 2, Round: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Candidates) != 1 || p.Critique["answer"] != "bad sums" {
		t.Fatalf("proposal = %+v", p)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 || reqs[0].Model != "teacher-model" || !strings.Contains(reqs[0].Messages[1].Content, "## Node answer") {
		t.Fatalf("requests = %+v", reqs)
	}
	if reqs[0].Temperature == nil || *reqs[0].Temperature > 1e-3 { // go-openai cannot send 0: the client sends a tiny value
		t.Errorf("teacher temperature = %v, want ~0", *reqs[0].Temperature)
	}

	dead, _ := llm.New(llm.NewConfig("http://127.0.0.1:1/v1", "m").WithRetries(0).WithTimeout(2 * time.Second))
	_, err = NewLLM(dead, "m", 0).Propose(context.Background(), Input{Plan: zeroShot(), K: 1})
	if err == nil || !errors.Is(err, llm.ErrUnavailable) {
		t.Fatalf("dead endpoint: err = %v, want ErrUnavailable", err)
	}
}
