package compiler

import (
	"context"
	"fmt"
	"hash/fnv"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sgde-project/sgde/compiler/edit"
	"github.com/sgde-project/sgde/compiler/teacher"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/metric"
	"github.com/sgde-project/sgde/runtime/trace"
)

// fakeRunner answers from the plan's prompt: "acc=0.8 calls=2" makes the plan right on the items
// whose hash falls below 0.8, with 2 student calls per run. Items are nested across accuracies,
// so a better plan wins pairs and never loses one.
type fakeRunner struct{}

var accRE = regexp.MustCompile(`acc=([0-9.]+)`)
var callsRE = regexp.MustCompile(`calls=([0-9]+)`)

func (fakeRunner) Run(_ context.Context, p *plans.Plan, in map[string]any) (*runtime.RunResult, error) {
	prompt := p.Nodes[0].LLM.Prompt
	acc, calls := 0.5, 1
	if m := accRE.FindStringSubmatch(prompt); m != nil {
		acc, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := callsRE.FindStringSubmatch(prompt); m != nil {
		calls, _ = strconv.Atoi(m[1])
	}
	q := in["question"].(string)
	h := fnv.New64a()
	h.Write([]byte(q))
	u := float64(h.Sum64()%10000) / 10000
	label, _ := strconv.Atoi(strings.TrimPrefix(q, "q"))
	out := any(-1)
	if u < acc {
		out = label
	}
	raw := fmt.Sprint(out)
	tr := &trace.Run{Output: out, Calls: calls, Inputs: in, Nodes: []*trace.Node{{ID: p.Nodes[0].ID, Substrate: "llm", Attempts: calls, Raw: &raw, Value: out,
		Prompt: []trace.Message{{Role: "user", Content: q}}}}}
	return &runtime.RunResult{Output: out, Trace: tr}, nil
}

// scripted proposes, per round, prompts given as "acc=… calls=…" strings.
type scripted struct{ rounds [][]string }

func (s *scripted) Name() string { return "scripted" }
func (s *scripted) Propose(_ context.Context, in teacher.Input) (teacher.Proposal, error) {
	if in.Round > len(s.rounds) {
		return teacher.Proposal{}, nil
	}
	var p teacher.Proposal
	for _, pr := range s.rounds[in.Round-1] {
		p.Candidates = append(p.Candidates, edit.Candidate{Edits: []edit.Edit{{Action: edit.RefinePrompt, Node: "answer", Prompt: pr + " {{ inputs.question }}"}}})
	}
	p.Tokens = 10
	return p, nil
}

func synthItems(n, offset int) []runtime.Item {
	items := make([]runtime.Item, n)
	for i := range items {
		id := offset + i
		items[i] = runtime.Item{ID: strconv.Itoa(id), Inputs: map[string]any{"question": fmt.Sprintf("q%d", id)}, Label: id}
	}
	return items
}

func fakePlan(t *testing.T) *plans.Plan {
	p, err := plans.Parse([]byte(`apiVersion: sgde/v1
kind: Plan
metadata: {name: fake}
inputs: [{name: question, type: string}]
output: answer
nodes:
  - id: answer
    substrate: llm
    llm: {prompt: "acc=0.5 {{ inputs.question }}", parser: {type: number}}
`), "fake.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAcceptanceRule(t *testing.T) {
	tests := []struct {
		name       string
		rounds     [][]string
		heldout    int
		minDelta   float64
		wantPrompt string // prefix of the final prompt
		wantStop   string
	}{
		{"clear win accepted", [][]string{{"acc=0.8"}}, 200, 0.01, "acc=0.8", "iteration budget"},
		{"below min-delta rejected", [][]string{{"acc=0.52"}}, 200, 0.05, "acc=0.5 ", "iteration budget"},
		{"not significant on few items", [][]string{{"acc=0.6"}}, 20, 0.01, "acc=0.5 ", "iteration budget"},
		{"worse rejected", [][]string{{"acc=0.3"}}, 200, 0.01, "acc=0.5 ", "iteration budget"},
		{"best of several", [][]string{{"acc=0.7", "acc=0.9", "acc=0.8"}}, 200, 0.01, "acc=0.9", "iteration budget"},
		{"tie broken by cost", [][]string{{"acc=0.9 calls=5", "acc=0.9 calls=2", "acc=0.9 calls=3"}}, 200, 0.01, "acc=0.9 calls=2", "iteration budget"},
		{"hill climbs", [][]string{{"acc=0.7"}, {"acc=0.9"}}, 200, 0.01, "acc=0.9", "iteration budget"},
		{"pac target", [][]string{{"acc=0.99"}, {"acc=1"}}, 200, 0.01, "acc=0.99", "PAC target met"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Initial: fakePlan(t), Train: synthItems(100, 0), Heldout: synthItems(tt.heldout, 1000), Metric: metric.Exact{},
				Teacher: &scripted{rounds: tt.rounds}, Runner: fakeRunner{}, Dir: t.TempDir(), K: 3, MinDelta: tt.minDelta,
				Iterations: len(tt.rounds), Patience: 5}
			res, err := Compile(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Plan.Nodes[0].LLM.Prompt; !strings.HasPrefix(got, tt.wantPrompt) {
				t.Errorf("final prompt %q, want prefix %q", got, tt.wantPrompt)
			}
			if !strings.Contains(res.StopReason, tt.wantStop) {
				t.Errorf("stop reason %q, want %q", res.StopReason, tt.wantStop)
			}
			evs, _ := ReadLog(cfg.Dir)
			for _, ev := range evs {
				if ev.Kind == EventCandidate && ev.Reason == "" {
					t.Errorf("candidate without a reason: %+v", ev)
				}
			}
			if p := res.Plan.Provenance; p == nil || p.PAC == nil || p.Cost == nil || p.HeldoutRisk == nil {
				t.Errorf("provenance incomplete: %+v", p)
			}
		})
	}
}

func TestStopRules(t *testing.T) {
	base := func(t *testing.T) Config {
		return Config{Initial: fakePlan(t), Train: synthItems(50, 0), Heldout: synthItems(100, 1000), Metric: metric.Exact{},
			Teacher: &scripted{rounds: [][]string{{"acc=0.4"}, {"acc=0.45"}, {"acc=0.3"}, {"acc=0.2"}}}, Runner: fakeRunner{},
			Dir: t.TempDir(), Iterations: 4, Patience: 10}
	}
	tests := []struct {
		name string
		mod  func(*Config)
		want string
		iter int
	}{
		{"patience", func(c *Config) { c.Patience = 2 }, "patience", 2},
		{"iterations", func(c *Config) {}, "iteration budget", 4},
		{"student calls", func(c *Config) { c.BudgetStudentCalls = 200 }, "student call budget", 1},
		{"teacher tokens", func(c *Config) { c.BudgetTeacherTokens = 20 }, "teacher token budget", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base(t)
			tt.mod(&cfg)
			res, err := Compile(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(res.StopReason, tt.want) || res.State.Iteration != tt.iter {
				t.Errorf("stopped after %d iterations: %q; want %d and %q", res.State.Iteration, res.StopReason, tt.iter, tt.want)
			}
		})
	}
}

func TestConfigChecked(t *testing.T) {
	good := Config{Initial: fakePlan(t), Train: synthItems(5, 0), Heldout: synthItems(5, 10), Metric: metric.Exact{},
		Teacher: &scripted{}, Runner: fakeRunner{}, Dir: t.TempDir()}
	for name, mod := range map[string]func(*Config){
		"no data":   func(c *Config) { c.Train = nil },
		"no dir":    func(c *Config) { c.Dir = "" },
		"bad alpha": func(c *Config) { c.Alpha = 2 },
		"bad delta": func(c *Config) { c.MinDelta = -1 },
		"bad eps":   func(c *Config) { c.Epsilon = 3 },
	} {
		cfg := good
		mod(&cfg)
		if _, err := Compile(context.Background(), cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Resuming without a checkpoint starts over from the initial plan (see
	// TestResumeBeforeFirstCheckpoint); without one either there is nothing to run.
	noInitial := good
	noInitial.Initial = nil
	if _, err := Resume(context.Background(), noInitial); err == nil {
		t.Error("resume without a checkpoint or an initial plan accepted")
	}
}
