package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/sgde-project/sgde/compiler"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/trace"
)

// Row is one line of the baselines table: a plan's accuracy on the evaluation batch and what it
// costs to run and to compile.
type Row struct {
	Name      string  `json:"name"`
	Correct   int     `json:"correct"`
	N         int     `json:"n"`
	Accuracy  float64 `json:"accuracy"`
	CILo      float64 `json:"ci_lo"`
	CIHi      float64 `json:"ci_hi"`
	CallsPer  float64 `json:"student_calls_per_item"`
	TokensPer float64 `json:"tokens_per_item"`
	LatencyMS float64 `json:"latency_ms_per_item"`
	// Answers counts the student answers behind the accuracy by source: recorded from a real
	// model, or simulated.
	Answers trace.Sources `json:"student_answers"`
	// Compile cost: teacher tokens, student requests and wall seconds spent producing the plan.
	CompileTeacherTokens int64   `json:"compile_teacher_tokens"`
	CompileStudentCalls  int64   `json:"compile_student_calls"`
	CompileSeconds       float64 `json:"compile_seconds"`
	// Suspect, when set, is the accuracy on the items not listed as suspect labels.
	CleanCorrect int `json:"clean_correct,omitempty"`
	CleanN       int `json:"clean_n,omitempty"`
	// Routers is the routing of a plan with routers, where it was checked (the compiled row):
	// router accuracy and misrouted items per branch (runtime.RouterReport).
	Routers   []runtime.RouterReport `json:"routers,omitempty"`
	Misrouted int                    `json:"misrouted,omitempty"`
}

// RowOf summarises an evaluation with the runtime's figures (accuracy and its Wilson interval
// are the ones `sgde eval` prints); suspect (may be nil) names the items left out of the clean
// accuracy.
func RowOf(name string, s compiler.Scores, suspect map[string]bool) Row {
	rep := s.Summary(name, "", suspect)
	calls, tokens, lat := s.PerItem()
	r := Row{Name: name, Correct: rep.Accuracy.Correct, N: rep.Accuracy.N, Accuracy: rep.Accuracy.Accuracy,
		CILo: rep.Accuracy.CI95Low, CIHi: rep.Accuracy.CI95High, CallsPer: calls, TokensPer: tokens, LatencyMS: lat,
		Answers: rep.Answers, Misrouted: rep.Misrouted}
	for _, rr := range rep.Routers {
		if rr.Checked > 0 {
			r.Routers = append(r.Routers, rr)
		}
	}
	if rep.Subset != nil {
		r.CleanCorrect, r.CleanN = rep.Subset.Correct, rep.Subset.N
	}
	return r
}

// WriteTable prints rows as an aligned text table.
func WriteTable(w io.Writer, rows []Row) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "plan\taccuracy\t95% CI\trecorded answers\tcalls/item\ttokens/item\tlatency/item\tcompile cost")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%.1f%% (%d/%d)\t[%.1f, %.1f]\t%s\t%.2f\t%.0f\t%.0f ms\t%s\n", r.Name, 100*r.Accuracy, r.Correct, r.N,
			100*r.CILo, 100*r.CIHi, r.RecordedText(), r.CallsPer, r.TokensPer, r.LatencyMS, r.CostText())
	}
	return tw.Flush()
}

// RecordedText is the share of the row's student answers that were a real model's recorded
// outputs ("-" when the plan made no student call).
func (r Row) RecordedText() string {
	if r.Answers.Total() == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*r.Answers.RecordedShare())
}

// CostText describes the compile cost.
func (r Row) CostText() string {
	if r.CompileTeacherTokens == 0 && r.CompileStudentCalls == 0 && r.CompileSeconds == 0 {
		return "none"
	}
	var parts []string
	parts = append(parts, fmt.Sprintf("%d teacher tokens", r.CompileTeacherTokens))
	parts = append(parts, fmt.Sprintf("%d student calls", r.CompileStudentCalls))
	parts = append(parts, fmt.Sprintf("%.1fs", r.CompileSeconds))
	return strings.Join(parts, ", ")
}

// Separated reports whether the 95% intervals of a and b do not overlap with a above b.
func Separated(a, b Row) bool { return a.CILo > b.CIHi }
