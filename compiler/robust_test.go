package compiler

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sgde-project/sgde/compiler/teacher"
	"github.com/sgde-project/sgde/runtime/llm"
)

// scriptedTeacher is a fake LLM teacher endpoint: it replies from a list, one reply per call,
// whatever it is asked.
type scriptedTeacher struct{ replies []string }

func (s *scriptedTeacher) Complete(_ context.Context, _ llm.Request) (llm.Response, error) {
	if len(s.replies) == 0 {
		return llm.Response{}, fmt.Errorf("script exhausted: %w", llm.ErrUnavailable)
	}
	r := s.replies[0]
	s.replies = s.replies[1:]
	return llm.Response{Text: r, Usage: llm.Usage{TotalTokens: 50}}, nil
}

func guestSource(body string) string {
	return "package main\n\nimport \"github.com/sgde-project/sgde/wasm/guest\"\n\nfunc main() {\n\tguest.Run(func(in map[string]any) (map[string]any, error) {\n" + body + "\n\t})\n}\n"
}

func offloadJSON(source string) string {
	e := map[string]any{
		"action": "offload", "node": "answer", "id": "answer_eval",
		"prompt": "Write a Python program with def solution(): for this problem. Reply with only the code in one ```python block, no explanation.\n\nProblem: {{ inputs.question }}",
		"parser": map[string]any{"type": "code"},
		"source": source, "inputs": map[string]string{"program": "answer"}, "outputs": map[string]string{"answer": "number"},
	}
	b, _ := json.Marshal(map[string]any{"edits": []any{e}})
	return string(b)
}

// TestCompileSurvivesHostileTeacher drives the loop with a scripted teacher that returns
// malformed JSON, code that does not build, code that fails its tests, code that loops forever
// and an edit that makes things worse. Nothing may crash, nothing may be accepted, and every
// rejection must be logged with its reason.
func TestCompileSurvivesHostileTeacher(t *testing.T) {
	if testing.Short() {
		t.Skip("builds code nodes to WebAssembly")
	}
	tk, items := gsmTask(t)
	dir := t.TempDir()
	r := newRunner(t, filepath.Join(dir, FileCache))
	round2 := `{"critique":{"answer":"arithmetic slips"},"candidates":[` +
		offloadJSON("package main\n\nfunc main() { undefinedFunction() }\n") + `,` +
		offloadJSON(guestSource(`		return map[string]any{"answer": undefinedValue}, nil`)) + `,` +
		offloadJSON(guestSource(`		return map[string]any{"answer": 0}, nil`)) + `,` +
		offloadJSON(guestSource(`		n := 0
		for {
			n++
		}`)) + `,` +
		`{"edits":[{"action":"refine_prompt","node":"answer","prompt":"{{ inputs.question }}"}]}` + `]}`
	script := &scriptedTeacher{replies: []string{
		"<think>let me see</think> Here you go: {\"candidates\": [ {\"edits\": [", // malformed
		"```json\n{\"candidates\": \"none\"}\n```",                                // repair, still invalid
		"Sure!\n```json\n" + round2 + "\n```",
	}}
	var events []Event
	cfg := Config{
		Initial: loadPlan(t, tk.PlanPath()), Train: items[:16], Heldout: items[16:56], Metric: tk.Scoring(),
		Teacher: teacher.NewLLM(script, "scripted", 0), Runner: r, Dir: dir, K: 5, Iterations: 3, Patience: 3, Probe: 4,
		Progress: func(ev Event) { events = append(events, ev) },
	}
	res, err := Compile(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	logged, err := ReadLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(logged) != len(events) {
		t.Errorf("log has %d events, progress saw %d", len(logged), len(events))
	}
	want := map[int]string{
		1: "does not build", // rejected by the SDK check before the compiler runs
		2: "does not build", // a Go compile error
		3: "fails its tests",
		4: "hit a limit",
		5: "does not drop by min-delta",
	}
	seen := map[int]bool{}
	var teacherProblems []string
	for _, ev := range logged {
		t.Logf("it%d %s %d %v: %s", ev.Iteration, ev.Kind, ev.Candidate, ev.Summary, ev.Reason)
		switch ev.Kind {
		case EventTeacher:
			teacherProblems = append(teacherProblems, ev.Reason)
		case EventCandidate:
			if ev.Accepted == nil || *ev.Accepted {
				t.Errorf("candidate accepted: %+v", ev)
			}
			if ev.Reason == "" {
				t.Errorf("rejection without a reason: %+v", ev)
			}
			if ev.Iteration == 2 {
				seen[ev.Candidate] = true
				if !strings.Contains(ev.Reason, want[ev.Candidate]) {
					t.Errorf("candidate %d rejected for %q, want %q", ev.Candidate, ev.Reason, want[ev.Candidate])
				}
			}
		}
	}
	for c := range want {
		if !seen[c] {
			t.Errorf("candidate %d of round 2 not logged", c)
		}
	}
	joined := strings.Join(teacherProblems, "\n")
	for _, p := range []string{"reply rejected", "repaired reply rejected", "teacher failed"} {
		if !strings.Contains(joined, p) {
			t.Errorf("teacher problems %q lack %q", joined, p)
		}
	}
	if res.Plan.Nodes[0].LLM == nil || len(res.Plan.Nodes) != 1 {
		t.Errorf("the plan changed though nothing was accepted: %+v", res.Plan.Nodes)
	}
	if res.State.TeacherTokens == 0 {
		t.Error("teacher tokens not counted")
	}
}
