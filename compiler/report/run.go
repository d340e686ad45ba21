package report

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/sgde-project/sgde/compiler"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
)

// Files report adds to a compile's output folder.
const (
	FileReport    = "report.html"
	FileBaselines = "baselines.json"
	// FileFewShot is the few-shot baseline's plan, saved so that it can be rerun with `sgde run`.
	FileFewShot = "few-shot-plan.yaml"
)

// Job is a compile followed by its baselines and report.
type Job struct {
	// Config is the compile; Config.Dir is the output folder.
	Config compiler.Config
	// Resume continues the compile checkpointed in Config.Dir.
	Resume bool
	// Task names the task in the report.
	Task string
	// Test, when set, is the batch the baselines are computed on; otherwise the held-out batch,
	// which also accepted candidates, so the compiled row is optimistic (the report says so).
	Test []runtime.Item
	// Suspects names items with doubtful labels; the table also reports accuracy without them.
	Suspects map[string]bool
	// Simulated says the student is the built-in simulator; every output says so.
	Simulated bool
	// Out receives the table and the summary; nil discards them.
	Out io.Writer
	// Phase, when set, is told when the baselines start.
	Phase func(string)
}

// Outcome is what Run produced.
type Outcome struct {
	Result *compiler.Result
	// Rows are the zero-shot, few-shot bootstrap and compiled rows, in that order.
	Rows []Row
	// EvalSet is the batch the rows were computed on.
	EvalSet []runtime.Item
}

// Run compiles (or resumes), evaluates the baselines on the test batch and writes
// baselines.json, the few-shot plan and report.html beside the compiler's files. The outcome
// holds whatever finished, even when an error is returned.
func Run(ctx context.Context, job Job) (*Outcome, error) {
	cfg := job.Config
	out := &Outcome{EvalSet: job.Test}
	evalName := "test set (never seen by the compiler)"
	if len(job.Test) == 0 {
		out.EvalSet = cfg.Heldout
		evalName = "held-out set (also used to accept candidates, so the compiled row is optimistic)"
	}
	w := job.Out
	if w == nil {
		w = io.Discard
	}
	compile := compiler.Compile
	if job.Resume {
		compile = compiler.Resume
	}
	res, err := compile(ctx, cfg)
	if err != nil {
		return out, err
	}
	out.Result = res
	if job.Phase != nil {
		job.Phase("baselines")
	}
	rows, err := baselines(ctx, cfg, res, out.EvalSet, job.Suspects)
	if err != nil {
		return out, err
	}
	out.Rows = rows
	if err := writeJSON(filepath.Join(cfg.Dir, FileBaselines), struct {
		EvalSet string `json:"eval_set"`
		Rows    []Row  `json:"rows"`
	}{evalName, rows}); err != nil {
		return out, fmt.Errorf("write baselines: %w", err)
	}
	events, err := compiler.ReadLog(cfg.Dir)
	if err != nil {
		return out, err
	}
	var cost plans.Cost
	if res.Plan.Provenance != nil && res.Plan.Provenance.Cost != nil {
		cost = *res.Plan.Provenance.Cost
	}
	student := cfg.Student
	if err := writeHTMLFile(filepath.Join(cfg.Dir, FileReport), Data{
		Task: job.Task, Teacher: cfg.Teacher.Name(), Student: student, Simulated: job.Simulated, Plan: res.Plan,
		Curve: res.State.Curve, Events: events, Rows: rows, EvalSet: evalName, PAC: res.PAC, Routed: res.Routed, StopReason: res.StopReason, Cost: cost,
	}); err != nil {
		return out, err
	}
	if job.Simulated {
		fmt.Fprintln(w, "The student is simulated: sgde's built-in simulator stands in for a small model; these figures test the compiler, not any real model.")
	}
	fmt.Fprintf(w, "Accuracy on the %s (%d items):\n", evalName, len(out.EvalSet))
	if err := WriteTable(w, rows); err != nil {
		return out, err
	}
	if len(job.Test) == 0 {
		fmt.Fprintln(w, "  (latency counts student answers replayed from the compile's response cache as ~0 ms; pass --test for fresh items)")
	}
	if job.Suspects != nil {
		for _, r := range rows {
			fmt.Fprintf(w, "  %s without suspect labels: %d/%d\n", r.Name, r.CleanCorrect, r.CleanN)
		}
	}
	fmt.Fprintf(w, "stopped: %s\n", res.StopReason)
	fmt.Fprintf(w, "PAC: k=%d, m=%d for epsilon=%g delta=%g; %d training items %s\n", res.PAC.K, res.PAC.M, res.PAC.Epsilon,
		res.PAC.Delta, res.PAC.TrainN, map[bool]string{true: "meet it", false: "do not meet it"}[res.PAC.Satisfied])
	if rt := res.Routed; rt != nil {
		for _, b := range rt.Branches {
			fmt.Fprintf(w, "PAC branch %s.%s: k=%d, m=%d (delta %.3g); %d training items routed to it %s\n", b.Router, b.Branch, b.K, b.M, b.Delta,
				b.TrainN, map[bool]string{true: "meet it", false: "do not meet it"}[b.Satisfied])
		}
		for _, r := range rt.Router {
			fmt.Fprintf(w, "PAC router %s: %d of %d held-out items misrouted; misrouting rate <= %.4f (Hoeffding, delta %.3g)\n", r.Router, r.Misrouted, r.HeldoutN, r.Upper, r.Delta)
		}
	}
	for _, r := range rows {
		for _, rr := range r.Routers {
			fmt.Fprintf(w, "router %s of the %s plan on the %s: accuracy %.1f%%, %d misrouted of %d checked (misrouted: the branch taken was wrong, another was right); %s\n",
				rr.Router, r.Name, evalName, 100*rr.Accuracy, rr.Misrouted, rr.Checked, r.Answers)
			for _, b := range rr.Branches {
				fmt.Fprintf(w, "  branch %s: %d items, %d right, %d misrouted\n", b.Branch, b.Routed, b.Correct, b.Misrouted)
			}
		}
	}
	for _, p := range res.Partitions {
		fmt.Fprintln(w, p.Line())
	}
	if rc := res.State.Router; rc != nil {
		fmt.Fprintf(w, "router at its acceptance: %s\n", rc.Line())
	}
	fmt.Fprintf(w, "plan: %s\nreport: %s\nlog: %s\n", filepath.Join(cfg.Dir, compiler.FilePlan),
		filepath.Join(cfg.Dir, FileReport), filepath.Join(cfg.Dir, compiler.FileLog))
	return out, nil
}

// baselines evaluates the initial plan (zero-shot), its few-shot bootstrap and the compiled plan
// on the same items with the same runner, and saves the few-shot plan.
func baselines(ctx context.Context, cfg compiler.Config, res *compiler.Result, evalSet []runtime.Item, suspects map[string]bool) ([]Row, error) {
	eval := func(p *plans.Plan) (compiler.Scores, error) {
		return compiler.Evaluate(ctx, cfg.Runner, p, evalSet, cfg.Metric, cfg.Workers, nil)
	}
	zero, err := eval(res.Initial)
	if err != nil {
		return nil, fmt.Errorf("zero-shot baseline: %w", err)
	}
	start := time.Now()
	fewPlan, fewCalls, err := compiler.Bootstrapped(ctx, cfg.Runner, res.Initial, cfg.Train, cfg.Metric, cfg.Workers)
	if err != nil {
		return nil, err
	}
	fewSeconds := time.Since(start).Seconds()
	if b, err := plans.Marshal(fewPlan, plans.FormatYAML); err == nil {
		if err := os.WriteFile(filepath.Join(cfg.Dir, FileFewShot), b, 0o644); err != nil {
			return nil, fmt.Errorf("write few-shot plan: %w", err)
		}
	}
	few, err := eval(fewPlan)
	if err != nil {
		return nil, fmt.Errorf("few-shot baseline: %w", err)
	}
	// The compiled plan's routing is checked (misrouted items and router accuracy per branch).
	comp, err := compiler.EvaluateRoutes(ctx, cfg.Runner, res.Plan, evalSet, cfg.Metric, cfg.Workers, nil)
	if err != nil {
		return nil, fmt.Errorf("compiled plan: %w", err)
	}
	fr := RowOf("few-shot bootstrap", few, suspects)
	fr.CompileStudentCalls, fr.CompileSeconds = fewCalls, fewSeconds
	cr := RowOf("sgde compiled", comp, suspects)
	st := res.State
	cr.CompileTeacherTokens, cr.CompileStudentCalls, cr.CompileSeconds = st.TeacherTokens, st.StudentCalls, st.WallSeconds
	return []Row{RowOf("zero-shot", zero, suspects), fr, cr}, nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func writeHTMLFile(path string, d Data) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	err = WriteHTML(f, d)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
