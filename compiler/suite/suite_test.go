package suite

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sgde-project/sgde/internal/simtest"
	"github.com/sgde-project/sgde/internal/testlong"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
)

// env starts a simulator that knows fams' items and returns a runner on it.
func env(t *testing.T, fams []Family) *runtime.Runner {
	t.Helper()
	var data []string
	for _, f := range fams {
		data = append(data, f.Data)
	}
	return simtest.Runner(t, "../../testdata", data...)
}

// TestSuiteRecordedFamily runs the suite on one family whose answers are all recorded and
// where chain of thought helps on the recording: the compiled plan reasons step by step, is not
// worse than the best baseline, and every student answer behind it was recorded. A resumed run
// keeps the result.
func TestSuiteRecordedFamily(t *testing.T) {
	if _, err := Discover("../../testdata/tasks/bbh", "../../testdata/bbh", []string{"no_such_family"}); err == nil {
		t.Error("an unknown family was accepted")
	}
	fams, err := Discover("../../testdata/tasks/bbh", "../../testdata/bbh", []string{"sports_understanding"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := Config{Families: fams, Dir: dir, Runner: env(t, fams), Seed: 7, Ablation: true, Progress: func(s string) { t.Log(s) }}
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := res[0]
	if log, err := os.ReadFile(filepath.Join(dir, "sports_understanding", "compile", "compile-log.jsonl")); err == nil && os.Getenv("SUITE_DEBUG") != "" {
		t.Log(string(log))
	}
	if r.Shape != "llm(cot)" || r.Worse || len(r.Rows) != 4 {
		t.Fatalf("result %+v", r)
	}
	if c := r.Rows[3]; c.Answers.Total() != 50 || c.Answers.Recorded != 50 || c.Accuracy <= r.Rows[0].Accuracy {
		t.Errorf("compiled row %+v, zero-shot %+v", c, r.Rows[0])
	}
	// Ablation: prompt edits alone reach chain of thought; consensus alone cannot gain over
	// recorded answers (one recorded sample per item), so it keeps the zero-shot plan; Yes/No
	// labels are no sums of stated quantities, so split and fuse change nothing either.
	if len(r.Ablations) != 5 || r.Ablations[0].Shape != "llm(cot)" || r.Ablations[2].Shape != "llm" ||
		r.Ablations[2].Accuracy != r.Rows[0].Accuracy || r.Ablations[3].Name != "split+fuse only" ||
		r.Ablations[3].Shape != "llm" || r.Ablations[4].Name != "all" {
		t.Errorf("ablations %+v", r.Ablations)
	}
	var table strings.Builder
	if err := WriteTable(&table, res); err != nil || !strings.Contains(table.String(), "llm(cot)") || !strings.Contains(table.String(), "rec 100%") {
		t.Errorf("table %q, %v", table.String(), err)
	}
	var page strings.Builder
	if err := WriteHTML(&page, res); err != nil || !strings.Contains(page.String(), `id="sports_understanding"`) {
		t.Errorf("page: %v", err)
	}
	cfg.Resume, cfg.Runner = true, &failRunner{t}
	again, err := Run(context.Background(), cfg)
	if err != nil || len(again) != 1 || again[0].Shape != r.Shape {
		t.Fatalf("resume: %+v, %v", again, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "sports_understanding", "compile", "plan.yaml")); err != nil {
		t.Errorf("compiled plan not written: %v", err)
	}
}

type failRunner struct{ t *testing.T }

func (f *failRunner) Run(context.Context, *plans.Plan, map[string]any) (*runtime.RunResult, error) {
	f.t.Fatal("a resumed suite ran a plan again")
	return nil, nil
}

// TestSuiteAllFamilies is the whole BBH suite (make test-long): every family compiles, none is
// worse than its best baseline, text-computable families need no student call, and at least
// three plan shapes are chosen.
func TestSuiteAllFamilies(t *testing.T) {
	testlong.Skip(t, "the ten BBH families, about two minutes")
	fams, err := Discover("../../testdata/tasks/bbh", "../../testdata/bbh", nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), Config{Families: fams, Dir: t.TempDir(), Runner: env(t, fams), Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	shapes := map[string]bool{}
	for _, r := range res {
		shapes[r.Shape] = true
		if r.Worse {
			t.Errorf("%s: compiled plan worse than %s (p=%.3g)", r.Family, r.Best, r.PValue)
		}
		if r.Rows[1].Accuracy < r.Rows[0].Accuracy && strings.Contains(r.Shape, "cot") {
			t.Errorf("%s: chain of thought hurts on the recorded answers (%.2f < %.2f) but the compiled plan is %s",
				r.Family, r.Rows[1].Accuracy, r.Rows[0].Accuracy, r.Shape)
		}
		if r.Shape == "code" && (r.Rows[3].Accuracy < 0.98 || r.Rows[3].CallsPer != 0) {
			t.Errorf("%s: offloaded plan %.3f with %.2f calls/item", r.Family, r.Rows[3].Accuracy, r.Rows[3].CallsPer)
		}
	}
	if len(shapes) < 4 {
		t.Errorf("plan shapes %v", shapes)
	}
}
