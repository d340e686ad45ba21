package report

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sgde-project/sgde/compiler"
	"github.com/sgde-project/sgde/compiler/edit"
	"github.com/sgde-project/sgde/compiler/pac"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
)

func fptr(f float64) *float64 { return &f }
func bptr(b bool) *bool       { return &b }

var update = flag.Bool("update", false, "rewrite golden files")

func reportPlan(t *testing.T) *plans.Plan {
	t.Helper()
	p, err := plans.Parse([]byte(`apiVersion: sgde/v1
kind: Plan
metadata: {name: golden}
inputs: [{name: question, type: string}]
output: answer_vote
nodes:
  - id: answer
    substrate: llm
    llm: {prompt: "Write def solution() for {{ inputs.question }}", parser: {type: code}}
  - id: answer_eval
    substrate: code
    code:
      source: "package main\n"
      inputs: {program: answer}
      outputs: {answer: number}
  - id: answer_vote
    substrate: consensus
    consensus: {members: [answer, answer_eval], over: answer_eval.answer, n: 3, vote: {method: plurality, tie_break: first}}
`), "golden.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReportGolden(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	data := Data{
		Task: "gsm-hard", Teacher: "library", Student: "slm-1.5b (simulated)", Simulated: true,
		Plan:  reportPlan(t),
		Curve: []compiler.CurvePoint{{Iteration: 0, TrainRisk: 0.7, HeldoutRisk: 0.72, Accepted: true}, {Iteration: 1, TrainRisk: 0.15, HeldoutRisk: 0.12, Accepted: true}, {Iteration: 2, TrainRisk: 0.02, HeldoutRisk: 0.01, Accepted: true}},
		Events: []compiler.Event{
			{Time: at, Iteration: 1, Kind: compiler.EventCritique, Critique: map[string]string{"answer": "<script>alert(1)</script> wrong sums"}},
			{Time: at, Iteration: 1, Kind: compiler.EventCandidate, Candidate: 1, Summary: []string{"offload answer"}, Accepted: bptr(true),
				HeldoutRisk: fptr(0.12), IncumbentRisk: fptr(0.72), PValue: fptr(1e-9), Reason: "accepted: risk drops",
				Edits: []edit.Edit{{Action: edit.Offload, Node: "answer"}}},
			{Time: at, Iteration: 1, Kind: compiler.EventCandidate, Candidate: 2, Summary: []string{"consensus over answer n=3"}, Accepted: bptr(false),
				Reason: "code node x fails its tests",
				Probes: []compiler.ProbeResult{{Node: "x", Kind: compiler.ProbeTrace, Passed: 3, Run: 4, Failure: "training item 7: returned 342, expected 343"}}},
			{Time: at, Iteration: 2, Kind: compiler.EventTeacher, Reason: "reply rejected: no JSON object in reply"},
		},
		Rows: []Row{
			{Name: "zero-shot", Correct: 43, N: 140, Accuracy: 43.0 / 140, CILo: 0.237, CIHi: 0.388, CallsPer: 1, TokensPer: 118, LatencyMS: 112},
			{Name: "sgde compiled", Correct: 138, N: 140, Accuracy: 138.0 / 140, CILo: 0.949, CIHi: 0.996, CallsPer: 3, TokensPer: 800, LatencyMS: 300,
				CompileStudentCalls: 2000, CompileSeconds: 40},
		},
		EvalSet:    "test set",
		PAC:        pac.Report{K: 1, Epsilon: 0.05, Delta: 0.05, M: 82, TrainN: 120, Satisfied: true},
		StopReason: "PAC target met",
		Cost:       plans.Cost{Iterations: 2, StudentCalls: 2000, WallSeconds: 40},
	}
	var b bytes.Buffer
	if err := WriteHTML(&b, data); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{`id="simulated"`, `id="baselines"`, `id="curve"`, `id="dag"`, "<svg", `class="consensus" id="n_answer__vote"`,
		"accepted: risk drops", "fails its tests", "&lt;script&gt;alert(1)&lt;/script&gt;",
		"meets the bound", "reply rejected"} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, bad := range []string{"<script", "http://", "https://"} {
		if strings.Contains(strings.ReplaceAll(got, `xmlns="http://www.w3.org/2000/svg"`, ""), bad) {
			t.Errorf("report is not self-contained and inert: contains %q", bad)
		}
	}
	// The plan is drawn by the renderer of `sgde graph --format svg`.
	var g bytes.Buffer
	if err := plans.WriteGraph(&g, data.Plan, plans.GraphSVG); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, g.String()) {
		t.Error("the report's plan picture is not sgde graph's")
	}
	golden := filepath.Join("testdata", "report.golden.html")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("report differs from %s (run with -update after checking the change)", golden)
	}
}

// TestCurveDistinguishable: equal train and held-out risks (common) must still show two
// series, told apart by style and named by a legend with swatches, on titled axes.
func TestCurveDistinguishable(t *testing.T) {
	svg := curveSVG([]compiler.CurvePoint{{Iteration: 0, TrainRisk: 0.5, HeldoutRisk: 0.5}, {Iteration: 1, TrainRisk: 0.2, HeldoutRisk: 0.2}})
	for _, want := range []string{`class="axis-title"`, ">iteration</text>", "risk (1 &#8722; accuracy)"} {
		if !strings.Contains(svg, want) {
			t.Errorf("curve lacks %s", want)
		}
	}
	if n := strings.Count(svg, `class="legend"`); n != 2 {
		t.Errorf("%d legend entries, want 2", n)
	}
	// Each legend entry has a line swatch and a marker before its name.
	for _, name := range []string{"held-out risk", "train risk"} {
		i := strings.Index(svg, ">"+name+"</text></g>")
		j := strings.LastIndex(svg[:max(i, 0)], `class="legend"`)
		if i < 0 || j < 0 || !strings.Contains(svg[j:i], "<line") {
			t.Errorf("legend entry %q has no swatch", name)
		}
	}
	held := between(svg, `<g class="heldout">`, "</polyline>")
	train := between(svg, `<g class="train">`, "</polyline>")
	if held == "" || train == "" {
		t.Fatal("a series is missing")
	}
	style := func(s string) string {
		i := strings.Index(s, "stroke-width")
		return s[i:strings.Index(s, " points=")]
	}
	if style(held) == style(train) {
		t.Errorf("train and held-out lines are drawn alike (%s): coinciding, only one is visible", style(held))
	}
	if !strings.Contains(train, "stroke-dasharray") {
		t.Error("the train line is not dashed over the held-out line")
	}
}

func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return ""
	}
	j := strings.Index(s[i:], to)
	if j < 0 {
		return ""
	}
	return s[i : i+j]
}

// TestReportRoutedPAC: a routed plan's report has a PAC row per branch and one for the router.
func TestReportRoutedPAC(t *testing.T) {
	data := Data{Task: "mixed", Teacher: "library", Plan: &plans.Plan{Metadata: plans.Metadata{Name: "p"}},
		PAC: pac.Report{K: 3, Epsilon: 0.05, Delta: 0.05, M: 126, TrainN: 100},
		Routed: &pac.Routed{
			Branches: []pac.BranchBound{{Router: "route", Branch: "edited", K: 1, Delta: 0.05 / 3, M: 104, TrainN: 50}},
			Router:   []pac.RouterBound{{Router: "route", HeldoutN: 80, Misrouted: 3, Delta: 0.05 / 3, Upper: 0.2}},
		},
		Events: []compiler.Event{{Iteration: 1, Kind: compiler.EventCandidate, Accepted: new(bool), Reason: "routed: not significant",
			Partitions: []compiler.Partition{{Path: "edited", Branch: "edited", Rule: `inputs.q lacks the word "x"`, TrainN: 30, HeldN: 40, Compiled: true,
				StartShape: "llm", Shape: "consensus(llm)", StartAccuracy: 0.5, HeldoutAccuracy: 1, Iterations: 2, StopReason: "patience"}}}}}
	var b bytes.Buffer
	if err := WriteHTML(&b, data); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"PAC branch route.edited", "k = 1, m = 104", "50 training items routed to it: do not meet the bound", "3 of 80 held-out items", "misrouting rate &le; 0.2000",
		"partition edited (inputs.q lacks the word &#34;x&#34;): 30 training, 40 held-out items: compiled llm -&gt; consensus(llm), held-out accuracy 50.0% -&gt; 100.0%"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

// TestReportRouterAccuracy: the compiled row of a routed plan carries its checked routing, and
// the text and HTML reports show router accuracy and misrouted items per branch.
func TestReportRouterAccuracy(t *testing.T) {
	route := func(branch string, checked, mis bool) []runtime.ItemRoute {
		return []runtime.ItemRoute{{Router: "route", Branch: branch, Checked: checked, Misrouted: mis}}
	}
	s := compiler.Scores{Results: []runtime.ItemResult{
		{ID: "a", Correct: true, Routes: route("arith", true, false)},
		{ID: "b", Routes: route("arith", true, true), Misrouted: true},
		{ID: "c", Routes: route("choice", true, false)},
		{ID: "d", Correct: true, Routes: route("choice", true, false)},
	}}
	row := RowOf("sgde compiled", s, nil)
	if row.Misrouted != 1 || len(row.Routers) != 1 || row.Routers[0].Accuracy != 0.75 || len(row.Routers[0].Branches) != 2 {
		t.Fatalf("row routers %+v misrouted %d", row.Routers, row.Misrouted)
	}
	unchecked := RowOf("zero-shot", compiler.Scores{Results: []runtime.ItemResult{{ID: "a", Correct: true, Routes: route("arith", false, false)}}}, nil)
	if len(unchecked.Routers) != 0 {
		t.Errorf("an unchecked evaluation reports routing %+v", unchecked.Routers)
	}
	var b bytes.Buffer
	if err := WriteHTML(&b, Data{Task: "mixed", Teacher: "library", Plan: &plans.Plan{Metadata: plans.Metadata{Name: "p"}}, Rows: []Row{unchecked, row}}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Router route of the sgde compiled plan", "Router accuracy 75.0%: 1 of 4 checked items misrouted", "<td>arith</td><td>2</td><td>1</td><td>1</td>"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(b.String(), "of the zero-shot plan") {
		t.Error("the report shows routing for an unchecked row")
	}
}
