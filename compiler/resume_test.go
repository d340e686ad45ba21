package compiler

import (
	"context"
	"errors"
	"github.com/sgde-project/sgde/compiler/task"
	"github.com/sgde-project/sgde/runtime"
	"path/filepath"
	"testing"

	"github.com/sgde-project/sgde/compiler/edit"
	"github.com/sgde-project/sgde/compiler/teacher"
	"github.com/sgde-project/sgde/plans"
)

func smallConfig(t *testing.T, dir string, r Runner, items []runtime.Item, tk *task.Task) Config {
	if r == nil {
		r = newRunner(t, filepath.Join(dir, FileCache))
	}
	return Config{
		Initial: loadPlan(t, tk.PlanPath()), Train: items[:24], Heldout: items[24:64], Metric: tk.Scoring(),
		Teacher: teacher.NewLibrary(), Runner: r, Dir: dir, K: 2,
		Iterations: 3, Patience: 3, Probe: 4,
	}
}

// TestResumeAfterInterrupt stops a compile in the middle of iteration 2 and resumes it: the
// result must equal an uninterrupted compile's, and the log must hold iteration 2 once.
func TestResumeAfterInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("runs code nodes")
	}
	tk, items := gsmTask(t)
	whole := t.TempDir()
	want, err := Compile(context.Background(), smallConfig(t, whole, nil, items, tk))
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	// One runner (and so one open response cache) for the directory: the cache file is locked
	// while open, as it is by a crashed process until the OS releases it.
	r := newRunner(t, filepath.Join(dir, FileCache))
	cfg := smallConfig(t, dir, r, items, tk)
	cfg.Progress = func(ev Event) {
		if ev.Kind == EventCritique && ev.Iteration == 2 {
			cancel() // the crash: iteration 2 is under way
		}
	}
	if _, err := Compile(ctx, cfg); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted compile: err = %v, want context.Canceled", err)
	}
	st, err := LoadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Iteration != 1 || st.Done {
		t.Fatalf("checkpoint after the interrupt: iteration %d done %v, want 1 and false", st.Iteration, st.Done)
	}
	cfg = smallConfig(t, dir, r, items, tk)
	cfg.Initial = nil // taken from the checkpoint
	got, err := Resume(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	dw, _ := plans.Digest(stripProvenance(want.Plan))
	dg, _ := plans.Digest(stripProvenance(got.Plan))
	if dw != dg {
		t.Errorf("resumed plan differs from the uninterrupted one")
	}
	if got.Heldout.Risk() != want.Heldout.Risk() || got.State.Iteration != want.State.Iteration {
		t.Errorf("resumed: risk %.3f after %d iterations, uninterrupted: %.3f after %d",
			got.Heldout.Risk(), got.State.Iteration, want.Heldout.Risk(), want.State.Iteration)
	}
	evs, err := ReadLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	critiques := map[int]int{}
	for _, ev := range evs {
		if ev.Kind == EventCritique {
			critiques[ev.Iteration]++
		}
	}
	for it, n := range critiques {
		if n != 1 {
			t.Errorf("iteration %d logged %d times", it, n)
		}
	}
	// A resume on other data is refused.
	cfg = smallConfig(t, dir, r, items, tk)
	cfg.Heldout = items[64:80]
	if _, err := Resume(context.Background(), cfg); err == nil {
		t.Error("resume on different held-out data was accepted")
	}
}

func stripProvenance(p *plans.Plan) *plans.Plan {
	q, _ := clonePlan(p)
	q.Provenance = nil
	return q
}

// TestAblation runs the three settings of the paper's ablation and checks that the teacher
// kept to the allowed actions and the compiled plans use only the substrates they may.
func TestAblation(t *testing.T) {
	if testing.Short() {
		t.Skip("runs code nodes")
	}
	tk, items := gsmTask(t)
	for _, tt := range []struct {
		name             string
		actions          []edit.Action
		mayCode, mayCons bool
	}{
		{"offload", []edit.Action{edit.Offload}, true, false},
		{"consensus", []edit.Action{edit.Consensus}, false, true},
		{"both", []edit.Action{edit.Offload, edit.Consensus}, true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := smallConfig(t, dir, nil, items, tk)
			cfg.Allowed = tt.actions
			res, err := Compile(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			var code, cons bool
			for _, n := range res.Plan.Nodes {
				code = code || n.Code != nil
				cons = cons || n.Consensus != nil
			}
			if (code && !tt.mayCode) || (cons && !tt.mayCons) {
				t.Errorf("plan has code=%v consensus=%v", code, cons)
			}
			if tt.mayCode && !code {
				t.Errorf("offload allowed but the compiled plan has no code node (held-out risk %.3f)", res.Heldout.Risk())
			}
			evs, _ := ReadLog(dir)
			for _, ev := range evs {
				for _, e := range ev.Edits {
					if !contains(tt.actions, e.Action) {
						t.Errorf("iteration %d proposed %s", ev.Iteration, e.Action)
					}
				}
			}
			t.Logf("%s: held-out risk %.3f -> %.3f, %d iterations, stop: %s", tt.name, res.State.Curve[0].HeldoutRisk, res.Heldout.Risk(), res.State.Iteration, res.StopReason)
		})
	}
}

func contains(as []edit.Action, a edit.Action) bool {
	for _, x := range as {
		if x == a {
			return true
		}
	}
	return false
}
