package compiler

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sgde-project/sgde/compiler/task"
	"github.com/sgde-project/sgde/compiler/teacher"
)

// synthTasks are the tasks the library teacher must solve by synthesis with the catalogue off:
// three BBH families and three clean-up tasks of the project's own design.
var synthTasks = []struct{ name, task, data string }{
	{"cleanup/phone", "cleanup/phone.yaml", "tasks/cleanup/phone.jsonl"},
	{"cleanup/invoice", "cleanup/invoice.yaml", "tasks/cleanup/invoice.jsonl"},
	{"cleanup/dates", "cleanup/dates.yaml", "tasks/cleanup/dates.jsonl"},
	{"bbh/word_sorting", "bbh/word_sorting.yaml", "bbh/word_sorting.jsonl"},
	{"bbh/multistep_arithmetic_two", "bbh/multistep_arithmetic_two.yaml", "bbh/multistep_arithmetic_two.jsonl"},
	{"bbh/boolean_expressions", "bbh/boolean_expressions.yaml", "bbh/boolean_expressions.jsonl"},
}

var programRE = regexp.MustCompile(`(?m)^// Program: (.*)$`)

// TestSynthesisCompiles compiles each task with the library teacher's synthesis and the
// catalogue off: the synthesised node must be accepted on held-out evidence and right on the
// items neither training nor held-out evaluation saw. The figures go to docs/BENCHMARKS.md.
func TestSynthesisCompiles(t *testing.T) {
	if os.Getenv("SGDE_TEST_LONG") == "" {
		t.Skip("long: make test-long")
	}
	for _, tc := range synthTasks {
		t.Run(tc.name, func(t *testing.T) {
			tk, err := task.Load("../testdata/tasks/" + tc.task)
			if err != nil {
				t.Fatal(err)
			}
			items, err := tk.ReadItemsFile("../testdata/" + tc.data)
			if err != nil {
				t.Fatal(err)
			}
			train, held, unseen := items[:30], items[30:80], items[80:]
			dir := t.TempDir()
			r := newRunner(t, filepath.Join(dir, FileCache))
			start := time.Now()
			res, err := Compile(context.Background(), Config{
				Initial: loadPlan(t, tk.PlanPath()), Train: train, Heldout: held, Metric: tk.Scoring(),
				Teacher: teacher.Library{Synthesis: true, NoCatalogue: true}, Runner: r, Dir: dir,
				K: 1, Iterations: 1, Patience: 1,
			})
			if err != nil {
				t.Fatal(err)
			}
			logged, err := ReadLog(dir)
			if err != nil {
				t.Fatal(err)
			}
			report := ""
			for _, ev := range logged {
				if ev.Kind == EventCritique {
					report = ev.Critique["answer"]
				}
				if ev.Kind == EventCandidate {
					t.Logf("candidate: %s", ev.Reason)
				}
			}
			t.Logf("critique: %s", report)
			var src string
			for _, n := range res.Plan.Nodes {
				if n.Code != nil {
					src = n.Code.Source
				}
			}
			if src == "" {
				t.Fatalf("no synthesised code node accepted (stop: %s)", res.StopReason)
			}
			prog := programRE.FindStringSubmatch(src)
			un, err := Evaluate(context.Background(), r, res.Plan, unseen, tk.Scoring(), 4, nil)
			if err != nil {
				t.Fatal(err)
			}
			if un.Correct() != un.N() {
				t.Errorf("the synthesised plan is right on %d of %d unseen items", un.Correct(), un.N())
			}
			incHeld := res.State.Curve[0].HeldoutRisk
			t.Logf("RESULT | %s | `%s` | %s | held-out risk %.3f -> %.3f | unseen %d/%d | compile %s",
				tc.name, prog[1], synthStats(report), incHeld, res.Heldout.Risk(), un.Correct(), un.N(), time.Since(start).Round(time.Second))
		})
	}
}

var statsRE = regexp.MustCompile(`(\d+) candidate programs run \((\d+) distinct\), up to (\d+) steps, ([^:]+):`)

func synthStats(critique string) string {
	m := statsRE.FindStringSubmatch(critique)
	if m == nil {
		return "?"
	}
	return strings.Join([]string{m[4], m[1] + " candidates (" + m[2] + " distinct)", m[3] + " steps"}, " | ")
}
