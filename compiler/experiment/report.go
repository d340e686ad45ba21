package experiment

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/sgde-project/sgde/compiler/report"
	"github.com/sgde-project/sgde/runtime/metric"
	"github.com/sgde-project/sgde/runtime/trace"
)

// Files the study writes beside its runs.
const (
	FileReport = "experiment.html"
	FileTable  = "experiment.txt"
)

// methods are the plans of every run, in table order: the four rows of a suite result.
var methods = []struct{ name, color string }{
	{"zero-shot", "#888888"}, {"chain of thought", "#b45309"}, {"few-shot bootstrap", "#7c3aed"}, {"sgde compiled", "#1d4ed8"},
}

var ablationColors = map[string]string{"prompt only": "#16a34a", "offload only": "#dc2626", "consensus only": "#0891b2", "split+fuse only": "#a16207"}

// pooled is one plan's test answers at one size, summed over seeds.
type pooled struct {
	correct, n int
	answers    trace.Sources
	calls      float64
}

func (p pooled) point(x int) report.CurvePointAcc {
	lo, hi := metric.Wilson(p.correct, p.n, 1.96)
	acc := 0.0
	if p.n > 0 {
		acc = float64(p.correct) / float64(p.n)
	}
	return report.CurvePointAcc{X: x, Acc: acc, Lo: lo, Hi: hi, Correct: p.correct, Num: p.n}
}

func (p pooled) cell() string {
	pt := p.point(0)
	return fmt.Sprintf("%.1f%% [%.0f, %.0f]", 100*pt.Acc, 100*pt.Lo, 100*pt.Hi)
}

// aggregate pools every plan's test answers per size: methods[i].name and ablation names.
func (s *Study) aggregate() map[string]map[int]*pooled {
	out := map[string]map[int]*pooled{}
	add := func(name string, size, correct, n int, ans trace.Sources, calls float64) {
		if out[name] == nil {
			out[name] = map[int]*pooled{}
		}
		p := out[name][size]
		if p == nil {
			p = &pooled{}
			out[name][size] = p
		}
		p.correct += correct
		p.n += n
		p.answers = p.answers.Add(ans)
		p.calls += calls * float64(n)
	}
	for _, r := range s.Runs {
		for _, row := range r.Result.Rows {
			add(row.Name, r.Size, row.Correct, row.N, row.Answers, row.CallsPer)
		}
		for _, a := range r.Result.Ablations {
			if a.Name != "all" {
				add(a.Name, r.Size, a.Correct, a.N, a.Answers, a.CallsPer)
			}
		}
	}
	return out
}

// Page is the report's content.
func (s *Study) Page() report.ExperimentPage {
	agg := s.aggregate()
	sizes := s.Sizes
	p := report.ExperimentPage{Task: s.Task, Student: s.Student, Teacher: s.Teacher, Simulated: s.Simulated,
		Setup: fmt.Sprintf("training sizes %s (drawn from a pool of %d), %d seed(s) each; %d held-out items accept or reject candidates; every plan is scored on the same %d test items, which no compile saw; split seed fixed",
			joinInts(sizes), s.Pool, s.Seeds, s.Heldout, s.Test)}
	for _, m := range methods {
		cs := report.CurveSeries{Name: m.name, Color: m.color}
		for _, n := range sizes {
			if q := agg[m.name][n]; q != nil {
				cs.Points = append(cs.Points, q.point(n))
			}
		}
		p.Series = append(p.Series, cs)
	}
	// The restricted compiles, in the suite's order.
	var ablNames []string
	if len(s.Runs) > 0 {
		for _, a := range s.Runs[0].Result.Ablations {
			if a.Name != "all" {
				ablNames = append(ablNames, a.Name)
			}
		}
	}
	for _, a := range ablNames {
		if agg[a] == nil {
			continue
		}
		color := ablationColors[a]
		if color == "" {
			color = "#444444"
		}
		cs := report.CurveSeries{Name: a, Color: color, Dashed: true}
		for _, n := range sizes {
			if q := agg[a][n]; q != nil {
				cs.Points = append(cs.Points, q.point(n))
			}
		}
		p.Series = append(p.Series, cs)
	}
	ks := map[int]int{}
	var ans trace.Sources
	var studentCalls, teacherTokens int64
	iterations := 0
	p.RunTable.Head = []string{"size", "seed", "compiled shape", "test accuracy", "zero-shot", "stopped because", "iterations", "PAC k, m", "meets bound", "compile student calls", "teacher tokens"}
	for _, r := range s.Runs {
		res := r.Result
		c := res.Rows[3]
		ks[res.PAC.K] = res.PAC.M
		p.Runs = append(p.Runs, report.CurveDot{X: r.Size, Acc: c.Accuracy,
			Title: fmt.Sprintf("n=%d seed=%d: %s %.1f%%, stopped after %d iteration(s): %s", r.Size, r.Seed, res.Shape, 100*c.Accuracy, res.Iterations, res.Stop)})
		for _, row := range res.Rows {
			ans = ans.Add(row.Answers)
			studentCalls += int64(row.CallsPer*float64(row.N)+0.5) + row.CompileStudentCalls
			teacherTokens += row.CompileTeacherTokens
		}
		for _, a := range res.Ablations {
			if a.Name != "all" {
				studentCalls += int64(a.CallsPer*float64(a.N)+0.5) + a.StudentCalls
				teacherTokens += a.TeacherTokens
			}
		}
		iterations += res.Iterations
		p.RunTable.Rows = append(p.RunTable.Rows, []string{fmt.Sprint(r.Size), fmt.Sprint(r.Seed), res.Shape,
			fmt.Sprintf("%.1f%% (%d/%d)", 100*c.Accuracy, c.Correct, c.N), fmt.Sprintf("%.1f%%", 100*res.Rows[0].Accuracy), res.Stop,
			fmt.Sprint(res.Iterations), fmt.Sprintf("%d, %d", res.PAC.K, res.PAC.M), yesNo(res.PAC.Satisfied),
			fmt.Sprint(c.CompileStudentCalls), fmt.Sprint(c.CompileTeacherTokens)})
	}
	var kk []int
	for k := range ks {
		kk = append(kk, k)
	}
	sort.Ints(kk)
	for _, k := range kk {
		p.PAC = append(p.PAC, report.PACMark{K: k, M: ks[k]})
	}
	if t := ans.Total(); t > 0 {
		pc := func(v int) float64 { return 100 * float64(v) / float64(t) }
		p.Answers = fmt.Sprintf("of %d student answers behind the baseline and compiled rows, %d (%.0f%%) were a real model's recorded outputs replayed by the simulator, %d (%.0f%%) were simulated, %d (%.0f%%) came live from the student endpoint. Plans that make no student call (a code node) contribute none.",
			t, ans.Recorded, pc(ans.Recorded), ans.Simulated, pc(ans.Simulated), ans.Model, pc(ans.Model))
	} else {
		p.Answers = "no plan scored here made a student call"
	}
	p.Totals = fmt.Sprintf("%d student calls in all (compiles, few-shot bootstrapping and test evaluation; answers the response cache already held are counted once per plan run); %d teacher rounds (iterations) using %d teacher tokens; %.0f s wall time for the runs of this start",
		studentCalls, iterations, teacherTokens, s.Seconds)

	p.Table.Head = []string{"plan"}
	for _, n := range sizes {
		p.Table.Head = append(p.Table.Head, fmt.Sprintf("n=%d", n))
	}
	p.Table.Head = append(p.Table.Head, "calls/item (largest n)", "recorded answers")
	for _, m := range methods {
		p.Table.Rows = append(p.Table.Rows, tableRow(m.name, sizes, agg[m.name]))
	}
	for _, a := range ablNames {
		if agg[a] != nil {
			p.Ablation.Rows = append(p.Ablation.Rows, tableRow(a, sizes, agg[a]))
		}
	}
	if len(p.Ablation.Rows) > 0 {
		p.Ablation.Head = p.Table.Head
		p.Ablation.Rows = append(p.Ablation.Rows, tableRow("all edits (compiled)", sizes, agg["sgde compiled"]))
	}
	p.Notes = s.notes(agg)
	return p
}

func tableRow(name string, sizes []int, by map[int]*pooled) []string {
	row := []string{name}
	var last *pooled
	for _, n := range sizes {
		if q := by[n]; q != nil {
			row = append(row, q.cell())
			last = q
		} else {
			row = append(row, "")
		}
	}
	if last == nil || last.n == 0 {
		return append(row, "", "")
	}
	recText := "-"
	if t := last.answers.Total(); t > 0 {
		recText = fmt.Sprintf("%.0f%%", 100*last.answers.RecordedShare())
	} else if last.calls > 0 {
		// Saved by an sgde that did not count an ablation's answers by source.
		recText = "not tracked"
	}
	return append(row, fmt.Sprintf("%.2f", last.calls/float64(last.n)), recText)
}

// notes explain what a reader would otherwise misread: a baseline below another, figures
// that come from the simulator, a bound no size reaches.
func (s *Study) notes(agg map[string]map[int]*pooled) []string {
	var out []string
	total := func(name string) pooled {
		var t pooled
		for _, q := range agg[name] {
			t.correct += q.correct
			t.n += q.n
			t.answers = t.answers.Add(q.answers)
			t.calls += q.calls
		}
		return t
	}
	acc := func(q pooled) float64 {
		if q.n == 0 {
			return 0
		}
		return float64(q.correct) / float64(q.n)
	}
	zero, cot, few, comp := total("zero-shot"), total("chain of thought"), total("few-shot bootstrap"), total("sgde compiled")
	if s.Simulated {
		out = append(out, "Simulated student: accuracies are what sgde's simulator produced. Where the simulator replays recorded answers they are a real model's (the data's recorded model, e.g. code-davinci-002 for BIG-Bench Hard, a far larger model than the paper's 1.5B student), so baseline rows measure that model's recorded outputs, not a small model's.")
		if acc(few) <= max(acc(zero), acc(cot))+0.005 {
			why := fmt.Sprintf("Few-shot bootstrap gains nothing here (%.1f%% vs zero-shot %.1f%%, chain of thought %.1f%%)", 100*acc(few), 100*acc(zero), 100*acc(cot))
			if acc(few) < acc(zero)-0.005 {
				why = fmt.Sprintf("Few-shot bootstrap is below zero-shot here (%.1f%% vs %.1f%%)", 100*acc(few), 100*acc(zero))
			}
			out = append(out, why+" because the simulated student does not learn from demonstrations: in the simulator a demonstration changes only the prompt (the answer format the student copies, whether it answers directly or step by step, which recorded answer is replayed, and the random draw of a simulated answer), never what it knows. A drop below zero-shot is such a prompt effect of the simulator, not evidence that demonstrations hurt a real model. With a real model few-shot bootstrap (DSPy's BootstrapFewShot idea) is the strongest baseline sgde runs itself; run the study against one (docs/EXPERIMENTS.md) before reading anything into this row.")
		}
		if acc(cot) < acc(zero)-0.005 {
			out = append(out, fmt.Sprintf("Chain of thought is below zero-shot here (%.1f%% vs %.1f%%). The simulated student's step-by-step answers follow its profile, not reasoning; this is a property of the simulator (not investigated further here), not a measurement of how a real model reasons.", 100*acc(cot), 100*acc(zero)))
		}
	} else if acc(few) < acc(zero)-0.005 {
		out = append(out, fmt.Sprintf("Few-shot bootstrap is below zero-shot (%.1f%% vs %.1f%%): the demonstrations it kept (training items the zero-shot plan got right) did not help this student; check the few-shot plan in a run folder.", 100*acc(few), 100*acc(zero)))
	}
	if acc(cot) > acc(zero)+0.005 {
		out = append(out, fmt.Sprintf("Chain of thought beats zero-shot (%.1f%% vs %.1f%%): asking for reasoning alone helps; the compiled plan has to beat this row, not only zero-shot.", 100*acc(cot), 100*acc(zero)))
	}
	if comp.n > 0 && comp.calls == 0 {
		out = append(out, "Every compiled plan is a code node (no student call at test time): its accuracy is the program's, independent of the student; the recorded/simulated share does not apply to it.")
	}
	if best := max(acc(zero), acc(cot), acc(few)); acc(comp) < best-0.005 {
		out = append(out, fmt.Sprintf("The compiled plan is below the best baseline (%.1f%% vs %.1f%%) pooled over sizes: see the runs table for where the compiles stopped.", 100*acc(comp), 100*best))
	}
	maxSize := s.Sizes[len(s.Sizes)-1]
	for _, r := range s.Runs {
		if r.Result.PAC.M > maxSize {
			out = append(out, fmt.Sprintf("No training size reaches the PAC bound of every compiled plan (largest size %d, bound up to m=%d for ε=%g, δ=%g): the bound is a sufficient sample size, and accuracy may reach its plateau well before it, as the paper reports; the full study (--full) goes to 128.", maxSize, r.Result.PAC.M, s.Epsilon, s.Delta))
			break
		}
	}
	out = append(out, "A run is reused when its inputs (task, data, initial plan, sizes, seeds, split, student and teacher names) match; a new sgde version does not invalidate saved runs: delete the output folder to rerun everything.")
	return out
}

// WriteReport writes the HTML report and the text table into dir.
func (s *Study) WriteReport(dir string) error {
	f, err := os.Create(filepath.Join(dir, FileReport))
	if err != nil {
		return fmt.Errorf("experiment report: %w", err)
	}
	err = report.WriteExperimentHTML(f, s.Page())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("experiment report: %w", err)
	}
	var b strings.Builder
	if err := s.WriteTable(&b); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, FileTable), []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("experiment table: %w", err)
	}
	return nil
}

// WriteTable prints the paper-like table, the ablation, the answer provenance and the totals.
func (s *Study) WriteTable(w io.Writer) error {
	p := s.Page()
	if s.Simulated {
		fmt.Fprintln(w, "The student is simulated: these figures test sgde, they are no evidence about real models.")
	}
	fmt.Fprintf(w, "%s: test accuracy pooled over seeds, [Wilson 95%%]\n", s.Task)
	for _, t := range []report.Table{p.Table, p.Ablation} {
		if len(t.Rows) == 0 {
			continue
		}
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(t.Head, "\t"))
		for _, r := range t.Rows {
			fmt.Fprintln(tw, strings.Join(r, "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	for _, m := range p.PAC {
		fmt.Fprintf(w, "PAC bound: k=%d -> m=%d (epsilon=%g, delta=%g)\n", m.K, m.M, s.Epsilon, s.Delta)
	}
	fmt.Fprintf(w, "answers: %s\ncalls: %s\n", p.Answers, p.Totals)
	for _, n := range p.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	return nil
}

func joinInts(v []int) string {
	var s []string
	for _, n := range v {
		s = append(s, fmt.Sprint(n))
	}
	return strings.Join(s, ", ")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
