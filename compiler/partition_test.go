package compiler

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sgde-project/sgde/compiler/edit"
	"github.com/sgde-project/sgde/compiler/teacher"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/metric"
	"github.com/sgde-project/sgde/runtime/trace"
)

// kindRunner is a fake student for partition compiles. An item is of kind A when its question
// has the word "alpha-kind-marker", else of kind B. A plan whose prompt says "mode=calc" is right
// on kind A items, but, when flaky, only with a vote (a consensus node) on those whose number is
// a multiple of 4; a plan whose prompt says "mode=plain" is right on kind B items. Routers are
// run by the rule their generated classifier states (see modeRunner).
//
// With byParity the kind is not in the text at all: even-numbered items are kind A.
type kindRunner struct{ flaky, byParity bool }

func (k kindRunner) Run(ctx context.Context, p *plans.Plan, in map[string]any) (*runtime.RunResult, error) {
	if len(p.Routers()) == 1 {
		return routeFake(ctx, k, p, in)
	}
	q := in["question"].(string)
	prompt, id, voted := "", "", false
	for _, n := range p.Nodes {
		if n.Consensus != nil {
			voted = true
		}
		if n.LLM != nil && prompt == "" {
			prompt, id = n.LLM.Prompt, n.ID
		}
	}
	label, _ := strconv.Atoi(strings.Fields(strings.TrimPrefix(q, "q"))[0])
	a := tokens(q)["alpha-kind-marker"]
	if k.byParity {
		a = label%2 == 0
	}
	right := false
	switch {
	case strings.Contains(prompt, "mode=calc") && a:
		right = voted || !k.flaky || label%4 != 0
	case strings.Contains(prompt, "mode=plain") && !a:
		right = true
	}
	out := any(-1)
	if right {
		out = label
	}
	raw := fmt.Sprint(out)
	tr := &trace.Run{Output: out, Calls: 1, Inputs: in, Nodes: []*trace.Node{{ID: id, Substrate: "llm", Attempts: 1, Raw: &raw, Value: out,
		Prompt: []trace.Message{{Role: "user", Content: q}}}}}
	return &runtime.RunResult{Output: out, Trace: tr}, nil
}

// routeFake runs a compiler-made router by its classifier's stated rule (the sandbox is not
// needed to test the compiler's logic; the classifier itself is run for real in
// TestClassifierRoutesAsPartitioned).
func routeFake(ctx context.Context, r Runner, p *plans.Plan, in map[string]any) (*runtime.RunResult, error) {
	q := in["question"].(string)
	branch, err := fakeClassify(p.Node("classify").Code.Source, q)
	if err != nil {
		return nil, err
	}
	sub, err := r.Run(ctx, p.Routers()[0].Router.Branch(branch).SubPlan(), in)
	if err != nil {
		return nil, err
	}
	tr := &trace.Run{Output: sub.Output, Calls: sub.Trace.Calls, Inputs: in, Nodes: []*trace.Node{{ID: "classify", Substrate: "code"},
		{ID: "route", Substrate: "router", Route: &trace.Route{Branch: branch, Run: sub.Trace}}}}
	return &runtime.RunResult{Output: sub.Output, Trace: tr}, nil
}

// shapeTeacher proposes from the plan it is shown, whatever the round: from a "mode=plain"
// prompt, the "mode=calc" prompt and a vote; from any other single call, a vote; nothing once
// the plan votes. It never sees which partition it is compiling.
type shapeTeacher struct{}

func (shapeTeacher) Name() string { return "shape" }
func (shapeTeacher) Propose(_ context.Context, in teacher.Input) (teacher.Proposal, error) {
	prompt := ""
	for _, n := range in.Plan.Nodes {
		if n.Consensus != nil {
			return teacher.Proposal{Tokens: 1}, nil
		}
		if n.LLM != nil && prompt == "" {
			prompt = n.LLM.Prompt
		}
	}
	var p teacher.Proposal
	if strings.Contains(prompt, "mode=plain") {
		p.Candidates = append(p.Candidates, edit.Candidate{Edits: []edit.Edit{{Action: edit.RefinePrompt, Node: "answer", Prompt: "mode=calc {{ inputs.question }}"}}})
	}
	p.Candidates = append(p.Candidates, edit.Candidate{Edits: []edit.Edit{{Action: edit.Consensus, Node: "answer", N: 3, Vote: &plans.Vote{Method: plans.VotePlurality}}}})
	p.Tokens = 10
	return p, nil
}

// kindItems are n items numbered from offset, alternately of kind A and B; withOptions says
// which of them carry a multiple-choice "Options:" block (a feature of the text that may or may
// not go with the kind).
func kindItems(n, offset int, withOptions func(i int) bool) []runtime.Item {
	items := make([]runtime.Item, n)
	for i := range items {
		id := offset + i
		q := fmt.Sprintf("q%d how many?", id)
		if i%2 == 0 {
			q += " alpha-kind-marker"
		}
		if withOptions(i) {
			q += "\nOptions:\n(A) x\n(B) y"
		}
		items[i] = runtime.Item{ID: strconv.Itoa(id), Inputs: map[string]any{"question": q}, Label: id}
	}
	return items
}

func plainPlan(t *testing.T) *plans.Plan {
	t.Helper()
	p, err := plans.Parse([]byte(`apiVersion: sgde/v1
kind: Plan
metadata: {name: mixed}
inputs: [{name: question, type: string}]
output: answer
nodes:
  - id: answer
    substrate: llm
    llm: {prompt: "mode=plain {{ inputs.question }}", parser: {type: number}}
`), "mixed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func kindB(i int) bool { return i%2 == 1 }

// partitionConfig is a mixture where the two kinds need different plans: the options block
// marks kind B on the training and the held-out items alike.
func partitionConfig(t *testing.T, dir string) Config {
	return Config{Initial: plainPlan(t), Train: kindItems(60, 0, kindB), Heldout: kindItems(80, 1000, kindB), Metric: metric.Exact{},
		Teacher: shapeTeacher{}, Runner: kindRunner{flaky: true}, Dir: dir, K: 3, Iterations: 3, Patience: 2, Seed: 7}
}

func partitionEvents(t *testing.T, dir string) (parts []Partition, routed *Event) {
	t.Helper()
	evs, err := ReadLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range evs {
		switch {
		case evs[i].Kind == EventPartition:
			parts = append(parts, evs[i].Partitions...)
		case evs[i].RoutableAccuracy != nil:
			routed = &evs[i]
		}
	}
	return parts, routed
}

// TestPartitionsCompiledSeparately: the "mode=calc" edit helps kind A and hurts kind B, so the
// compiler splits the data by a word of the input and compiles each side on its own. The side
// the edit helped goes on to adopt a vote (it fixes the flaky items there); the other keeps the
// plain call (a vote changes nothing there, and "mode=calc" loses everything). The routed plan
// over the two compiled plans is accepted on all the held-out items.
func TestPartitionsCompiledSeparately(t *testing.T) {
	cfg := partitionConfig(t, t.TempDir())
	res, err := Compile(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	parts, routed := partitionEvents(t, cfg.Dir)
	if len(parts) != 2 || routed == nil || routed.Accepted == nil || !*routed.Accepted {
		t.Fatalf("partitions %+v, routed candidate %+v", parts, routed)
	}
	want := map[string]string{branchEdited: "consensus(llm)", branchIncumbent: "llm"}
	for _, p := range parts {
		if !p.Compiled || p.Shape != want[p.Branch] || p.Iterations == 0 || p.StudentCalls == 0 {
			t.Errorf("partition %s: %+v, want a compiled %s", p.Path, p, want[p.Branch])
		}
		if p.TrainN != 30 || p.HeldN != 40 {
			t.Errorf("partition %s: %d training and %d held-out items, want 30 and 40", p.Path, p.TrainN, p.HeldN)
		}
		// Each partition compile is a compile of its own, with its own checkpoint and log,
		// whose first event says how many items it had.
		evs, err := ReadLog(filepath.Join(cfg.Dir, p.Dir))
		if err != nil {
			t.Fatalf("partition %s has no log of its own: %v", p.Path, err)
		}
		if !strings.Contains(evs[0].Reason, "30 train, 40 held-out items") {
			t.Errorf("partition %s starts with %q", p.Path, evs[0].Reason)
		}
		if st, err := LoadState(filepath.Join(cfg.Dir, p.Dir)); err != nil || !st.Done {
			t.Errorf("partition %s checkpoint: %+v, %v", p.Path, st, err)
		}
	}
	if ed := parts[0]; ed.Branch != branchEdited || ed.StartAccuracy != 0.5 || ed.HeldoutAccuracy != 1 || !strings.Contains(ed.Line(), "llm -> consensus(llm), held-out accuracy 50.0% -> 100.0%") {
		t.Errorf("edited partition: %+v\n%s", ed, ed.Line())
	}
	if *routed.RoutableAccuracy != 1 || routed.Misrouted != 0 || *routed.HeldoutRisk != 0 || len(routed.Partitions) != 2 {
		t.Errorf("routed candidate: %+v", routed)
	}
	if got := Shape(res.Plan); got != "code→router{edited: consensus(llm) | incumbent: llm}" {
		t.Errorf("compiled plan shape %q", got)
	}
	if len(res.Partitions) != 2 || res.State.Router == nil || res.Routed == nil || len(res.Routed.Router) != 1 || res.Heldout.Risk() != 0 {
		t.Errorf("result: partitions %+v, router %+v, PAC %+v, risk %v", res.Partitions, res.State.Router, res.Routed, res.Heldout.Risk())
	}
	// The parent's cost includes the partitions' (it was charged their requests and tokens).
	var sub int64
	for _, p := range parts {
		sub += p.StudentCalls
	}
	if res.State.StudentCalls <= sub {
		t.Errorf("compile counted %d student calls, its partitions alone %d", res.State.StudentCalls, sub)
	}

	// Deterministic: the same compile in another folder makes the same plan.
	again, err := Compile(context.Background(), partitionConfig(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if a, b := c0digest(t, res.Plan), c0digest(t, again.Plan); a != b {
		t.Errorf("two compiles of the same data and seed: %s and %s", a, b)
	}
}

func c0digest(t *testing.T, p *plans.Plan) string {
	t.Helper()
	d, err := plans.Digest(stripProvenance(p))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestPartitionsRejectedWhenTheyDoNotHelp: on the training items the options block goes with
// kind B, so the learned rule routes by it; on the held-out items it does not, so half of them
// are misrouted, the routed plan is no better than the incumbent, and it is rejected although
// both partitions were compiled.
func TestPartitionsRejectedWhenTheyDoNotHelp(t *testing.T) {
	// The kind is in no word of the input (the runner tells it by the item's number), so the
	// only words that separate the training items are the options block's.
	unmarked := func(items []runtime.Item) []runtime.Item {
		for i := range items {
			items[i].Inputs["question"] = strings.ReplaceAll(items[i].Inputs["question"].(string), " alpha-kind-marker", "")
		}
		return items
	}
	cfg := partitionConfig(t, t.TempDir())
	cfg.Runner = kindRunner{byParity: true}
	cfg.Train = unmarked(cfg.Train)
	cfg.Heldout = unmarked(kindItems(80, 1000, func(i int) bool { return i%4 < 2 }))
	res, err := Compile(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	parts, routed := partitionEvents(t, cfg.Dir)
	if len(parts) != 2 || routed == nil {
		t.Fatalf("partitions %+v, routed candidate %+v", parts, routed)
	}
	for _, p := range parts {
		if !p.Compiled || p.HeldN != 40 {
			t.Errorf("partition %s: %+v", p.Path, p)
		}
	}
	if *routed.Accepted || routed.Misrouted != 40 || *routed.RoutableAccuracy != 0.5 || !strings.Contains(routed.Reason, "does not drop by min-delta") {
		t.Errorf("routed candidate: accepted %v, misrouted %d, accuracy %v: %s", *routed.Accepted, routed.Misrouted, *routed.RoutableAccuracy, routed.Reason)
	}
	if len(res.Plan.Routers()) != 0 || res.Heldout.Risk() != 0.5 || res.Partitions != nil {
		t.Errorf("final plan: %d routers, held-out risk %v, partitions %+v", len(res.Plan.Routers()), res.Heldout.Risk(), res.Partitions)
	}
}

// TestPartitionBounds: a partition below MinPartition is not compiled (its branch is its
// starting plan), at PartitionDepth 1 a partition compile may not route again, and a partition
// compile gets what is left of the budgets, or is not compiled when nothing is.
func TestPartitionBounds(t *testing.T) {
	cfg := partitionConfig(t, t.TempDir())
	cfg.MinPartition = 31
	res, err := Compile(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	parts, routed := partitionEvents(t, cfg.Dir)
	if len(parts) != 2 || routed == nil {
		t.Fatalf("partitions %+v, routed %+v", parts, routed)
	}
	for _, p := range parts {
		if p.Compiled || !strings.Contains(p.Skipped, "too small") || p.Shape != "" {
			t.Errorf("partition %s: %+v", p.Path, p)
		}
		if _, err := os.Stat(filepath.Join(cfg.Dir, p.Dir)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("partition %s was compiled into %s", p.Path, p.Dir)
		}
	}
	// Uncompiled, the edited branch is the flaky "mode=calc" call: 20 of 40 kind A items
	// right, all 40 kind B items: 0.25 risk, still better than the incumbent's 0.5.
	if got := Shape(res.Plan); got != "code→router{edited: llm | incumbent: llm}" || res.Heldout.Risk() != 0.25 {
		t.Errorf("plan %s, held-out risk %v", got, res.Heldout.Risk())
	}

	// Depth: the top compile may route; its partitions may route again only while their depth
	// is below PartitionDepth.
	for _, tt := range []struct {
		depth, limit int
		off, wantOff bool
	}{{0, 2, false, false}, {1, 2, false, true}, {0, 1, false, true}, {0, 2, true, true}} {
		c := &compiler{cfg: Config{Train: kindItems(40, 0, kindB), Heldout: kindItems(40, 100, kindB), Dir: "out", MinPartition: 10,
			PartitionDepth: tt.limit, RoutersOff: tt.off, depth: tt.depth}, st: &State{}}
		p := &part{Partition: Partition{Path: "edited", TrainN: 20, HeldN: 20, Dir: "partitions/x"}, trainIdx: []int{0, 2}, heldIdx: []int{1}}
		sub, skip := c.partitionConfig(p)
		if skip != "" || sub.RoutersOff != tt.wantOff || sub.depth != tt.depth+1 || len(sub.Train) != 2 || len(sub.Heldout) != 1 || sub.Dir != filepath.Join("out", "partitions/x") {
			t.Errorf("depth %d of %d (routers off %v): routers off %v, depth %d, %d/%d items, dir %s, skip %q", tt.depth, tt.limit, tt.off,
				sub.RoutersOff, sub.depth, len(sub.Train), len(sub.Heldout), sub.Dir, skip)
		}
	}

	c := &compiler{cfg: Config{Train: kindItems(40, 0, kindB), Heldout: kindItems(40, 100, kindB), Dir: "out", MinPartition: 10, PartitionDepth: 2,
		BudgetStudentCalls: 100, BudgetTeacherTokens: 50}, st: &State{StudentCalls: 60, TeacherTokens: 20}, start: time.Now()}
	p := &part{Partition: Partition{Path: "edited", TrainN: 20, HeldN: 20}}
	if sub, skip := c.partitionConfig(p); skip != "" || sub.BudgetStudentCalls != 40 || sub.BudgetTeacherTokens != 30 {
		t.Errorf("budgets left: %d calls, %d tokens (skip %q), want 40 and 30", sub.BudgetStudentCalls, sub.BudgetTeacherTokens, skip)
	}
	c.st.StudentCalls = 100
	if _, skip := c.partitionConfig(p); skip != "student call budget spent" {
		t.Errorf("with the call budget spent: skip %q", skip)
	}
}

// TestPartitionResume interrupts the compile inside a partition compile and resumes it: the
// partition compile continues from its own checkpoint and the result equals an uninterrupted
// compile's.
func TestPartitionResume(t *testing.T) {
	want, err := Compile(context.Background(), partitionConfig(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := partitionConfig(t, dir)
	cfg.Progress = func(ev Event) {
		if ev.Partition == branchEdited && ev.Kind == EventCritique && ev.Iteration == 1 {
			cancel() // the crash: the edited partition's first round is under way
		}
	}
	if _, err := Compile(ctx, cfg); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted compile: err = %v, want context.Canceled", err)
	}
	sub := filepath.Join(dir, "partitions", "iter-1-"+branchEdited)
	st, err := LoadState(sub)
	if err != nil || st.Iteration != 0 || st.Done {
		t.Fatalf("partition checkpoint after the interrupt: %+v, %v", st, err)
	}
	var resumed []string
	cfg = partitionConfig(t, dir)
	cfg.Initial = nil
	cfg.Progress = func(ev Event) {
		if ev.Kind == EventStart && ev.Partition != "" {
			resumed = append(resumed, ev.Partition+": "+ev.Reason)
		}
	}
	got, err := Resume(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := c0digest(t, want.Plan), c0digest(t, got.Plan); a != b {
		t.Errorf("resumed plan %s, uninterrupted %s", b, a)
	}
	if len(resumed) == 0 || resumed[0] != branchEdited+": resumed after iteration 0" {
		t.Errorf("partition compiles started: %q", resumed)
	}
	evs, err := ReadLog(sub)
	if err != nil {
		t.Fatal(err)
	}
	critiques := map[int]int{}
	for _, ev := range evs {
		if ev.Kind == EventCritique {
			critiques[ev.Iteration]++
		}
	}
	if critiques[1] != 1 || critiques[2] != 1 {
		t.Errorf("partition log critiques per iteration: %v", critiques)
	}
}

// TestClassifierRoutesAsPartitioned runs the generated classifier in the sandbox on texts that
// test its word splitting: it must send every text where split.edits cut the partitions.
func TestClassifierRoutesAsPartitioned(t *testing.T) {
	if os.Getenv("SGDE_TEST_LONG") == "" {
		t.Skip("long: make test-long (builds a code node)")
	}
	r := newRunner(t, "")
	texts := []string{"Options:\n(A) x", "no options here", "Options: inline", "xOptions:", "What? Options:, then", "options:", "'Options:'", ""}
	lists := []ruleList{{field: "question", rules: []wordRule{{"Options:", "a"}, {"(A)", "b"}}, fallback: "c"}}
	for _, tok := range []string{"Options:", "(A)"} {
		for _, edited := range []bool{true, false} {
			lists = append(lists, split{field: "question", token: tok, edited: edited}.list())
		}
	}
	{
		for _, s := range lists {
			p, err := plans.Parse([]byte(fmt.Sprintf(`apiVersion: sgde/v1
kind: Plan
metadata: {name: classify}
inputs: [{name: question, type: string}]
output: classify.branch
nodes:
  - id: classify
    substrate: code
    code:
      inputs: {text: inputs.question}
      outputs: {branch: string}
      source: %q
`, classifierSource(s))), "classify.yaml")
			if err != nil {
				t.Fatal(err)
			}
			for _, text := range texts {
				res, err := r.Run(context.Background(), p, map[string]any{"question": text})
				if err != nil {
					t.Fatalf("classifier %v on %q: %v", s, text, err)
				}
				if want := s.branch(text); res.Output != want {
					t.Errorf("classifier %v on %q: %v, partitions cut it to %s", s, text, res.Output, want)
				}
			}
		}
	}
}

// wordRunner is kindRunner whose kind B items are answered with a word: their label is "yes"
// or "no", which a right plan returns.
type wordRunner struct{ kindRunner }

func (w wordRunner) Run(ctx context.Context, p *plans.Plan, in map[string]any) (*runtime.RunResult, error) {
	if len(p.Routers()) == 1 {
		return routeFake(ctx, w, p, in)
	}
	res, err := w.kindRunner.Run(ctx, p, in)
	if err != nil || tokens(in["question"].(string))["alpha-kind-marker"] {
		return res, err
	}
	if n, ok := res.Output.(int); ok && n >= 0 {
		res.Output = yesNo(n)
		res.Trace.Output = res.Output
	}
	return res, nil
}

func yesNo(n int) string { return map[bool]string{true: "yes", false: "no"}[n%3 == 0] }

// TestClusterRoute: no edit both wins and loses enough to split by (SplitMin is out of reach),
// but the expected answers come in two forms, numbers and yes/no words, and a word of the input
// tells them apart. The compiler routes by it once, compiles each group as its own plan (the
// numbers' group adopts "mode=calc" then a vote; the words' group keeps the plain call) and
// accepts the routed plan.
func TestClusterRoute(t *testing.T) {
	words := func(items []runtime.Item) []runtime.Item {
		for i := range items {
			if !tokens(items[i].Inputs["question"].(string))["alpha-kind-marker"] {
				items[i].Label = yesNo(items[i].Label.(int))
			}
		}
		return items
	}
	cfg := partitionConfig(t, t.TempDir())
	cfg.Train, cfg.Heldout = words(cfg.Train), words(cfg.Heldout)
	cfg.Runner = wordRunner{kindRunner{flaky: true}}
	cfg.SplitMin = 1000
	res, err := Compile(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	parts, routed := partitionEvents(t, cfg.Dir)
	if len(parts) != 2 || routed == nil || !*routed.Accepted {
		t.Fatalf("partitions %+v, routed %+v", parts, routed)
	}
	want := map[string]string{"number": "consensus(llm)", "word": "llm"}
	for _, p := range parts {
		if !p.Compiled || p.Shape != want[p.Branch] || p.TrainN != 30 || p.HeldN != 40 {
			t.Errorf("partition %s (%s): %+v", p.Path, p.Rule, p)
		}
	}
	if !strings.Contains(routed.Summary[0], "30 number, 30 word") || routed.Misrouted != 0 || res.Heldout.Risk() != 0 {
		t.Errorf("routed: %s; %s; held-out risk %v", routed.Summary, routed.Reason, res.Heldout.Risk())
	}
	if l := routed.Line(); !strings.HasPrefix(l, "iteration 1: router by answer forms accepted: route by the form of the expected answers (30 number, 30 word)") {
		t.Errorf("progress line %q", l)
	}
	if st := res.State; !st.Clustered || len(res.Plan.Routers()) != 1 {
		t.Errorf("clustered %v, routers %d", st.Clustered, len(res.Plan.Routers()))
	}
}

func TestAnswerFormAndLearnList(t *testing.T) {
	for _, tt := range []struct {
		label any
		want  string
	}{{42, "number"}, {"-3.5", "number"}, {"1,024", "number"}, {"(B)", "option"}, {"Yes", "word"}, {"apple banana cherry", "words"},
		{") ] }", "symbols"}, {"", "empty"}, {"05/01/2021", "text"}} {
		if got := answerForm(tt.label); got != tt.want {
			t.Errorf("answerForm(%v) = %s, want %s", tt.label, got, tt.want)
		}
	}
	var items []runtime.Item
	var forms []string
	add := func(n int, text, form string) {
		for i := 0; i < n; i++ {
			items = append(items, runtime.Item{Inputs: map[string]any{"q": fmt.Sprintf("%s item%d", text, i)}})
			forms = append(forms, form)
		}
	}
	add(12, "Is it plausible?", "word")
	add(12, "Sort these: b a", "words")
	add(12, "How many apples?", "number")
	add(3, "Odd one", "symbols") // too few to be a group of its own
	l, acc, ok := learnList(items, "q", forms, 10)
	if !ok || acc != 1 || len(l.rules) != 2 || len(l.branches) != 3 || l.branches[2] != l.fallback {
		t.Fatalf("list %+v, accuracy %v, ok %v", l, acc, ok)
	}
	for i, it := range items[:36] {
		if got := l.branch(it.Inputs["q"]); got != forms[i] {
			t.Errorf("%q -> %s, want %s", it.Inputs["q"], got, forms[i])
		}
	}
	if _, _, ok := learnList(items[24:], "q", forms[24:], 10); ok {
		t.Error("a list from one group")
	}
	// A group two kinds of question share, with no word common to both: one word per kind.
	items, forms = nil, nil
	add(12, "Is it plausible?", "word")
	add(12, "Does Bob tell the truth?", "word")
	add(12, "How many apples?", "number")
	add(12, "Compute 3 + 4 =", "number")
	l, acc, ok = learnList(items, "q", forms, 10)
	if !ok || acc != 1 || len(l.branches) != 2 || len(l.rules) < 2 {
		t.Fatalf("shared group: list %+v, accuracy %v, ok %v", l, acc, ok)
	}
	for i, it := range items {
		if got := l.branch(it.Inputs["q"]); got != forms[i] {
			t.Errorf("%q -> %s, want %s (list %+v)", it.Inputs["q"], got, forms[i], l.rules)
		}
	}
}

// triRunner is a fake student for nested routers: kind A items (the word "alpha-kind-marker")
// need "mode=calc", kind C items ("gamma-kind-marker") need "mode=alt", the others "mode=plain".
type triRunner struct{}

func (tr triRunner) Run(ctx context.Context, p *plans.Plan, in map[string]any) (*runtime.RunResult, error) {
	if len(p.Routers()) == 1 {
		return routeFake(ctx, tr, p, in)
	}
	q := in["question"].(string)
	prompt := p.Nodes[0].LLM.Prompt
	t := tokens(q)
	var right bool
	switch {
	case t["alpha-kind-marker"]:
		right = strings.Contains(prompt, "mode=calc")
	case t["gamma-kind-marker"]:
		right = strings.Contains(prompt, "mode=alt")
	default:
		right = strings.Contains(prompt, "mode=plain")
	}
	label, _ := strconv.Atoi(strings.Fields(strings.TrimPrefix(q, "q"))[0])
	out := any(-1)
	if right {
		out = label
	}
	raw := fmt.Sprint(out)
	run := &trace.Run{Output: out, Calls: 1, Inputs: in, Nodes: []*trace.Node{{ID: p.Nodes[0].ID, Substrate: "llm", Attempts: 1, Raw: &raw, Value: out,
		Prompt: []trace.Message{{Role: "user", Content: q}}}}}
	return &runtime.RunResult{Output: out, Trace: run}, nil
}

// triTeacher proposes "mode=calc" and "mode=alt" from a plain prompt, nothing otherwise.
type triTeacher struct{}

func (triTeacher) Name() string { return "tri" }
func (triTeacher) Propose(_ context.Context, in teacher.Input) (teacher.Proposal, error) {
	if len(in.Plan.Nodes) != 1 || in.Plan.Nodes[0].LLM == nil || !strings.Contains(in.Plan.Nodes[0].LLM.Prompt, "mode=plain") {
		return teacher.Proposal{Tokens: 1}, nil
	}
	var p teacher.Proposal
	for _, m := range []string{"mode=calc", "mode=alt"} {
		p.Candidates = append(p.Candidates, edit.Candidate{Edits: []edit.Edit{{Action: edit.RefinePrompt, Node: "answer", Prompt: m + " {{ inputs.question }}"}}})
	}
	p.Tokens = 10
	return p, nil
}

func triItems(n, offset int) []runtime.Item {
	items := make([]runtime.Item, n)
	for i := range items {
		id := offset + i
		q := fmt.Sprintf("q%d how many?", id)
		switch i % 3 {
		case 0:
			q += " alpha-kind-marker"
		case 2:
			q += " gamma-kind-marker"
		}
		items[i] = runtime.Item{ID: strconv.Itoa(id), Inputs: map[string]any{"question": q}, Label: id}
	}
	return items
}

// TestNestedPartitions: three kinds need three prompts. The first split separates kind A; the
// other partition, still a mixture, splits again inside its own compile (depth 1 < 2), so the
// plan nests a router in a branch. With PartitionDepth 1 the partition may not route, and kind C
// stays unserved.
func TestNestedPartitions(t *testing.T) {
	for _, tt := range []struct {
		depth     int
		wantShape string
		wantRisk  float64
	}{
		{2, "code→router{edited: llm | incumbent: code→router{edited: llm | incumbent: llm}}", 0},
		{1, "code→router{edited: llm | incumbent: llm}", 1.0 / 3},
	} {
		cfg := Config{Initial: plainPlan(t), Train: triItems(60, 0), Heldout: triItems(90, 1000), Metric: metric.Exact{},
			Teacher: triTeacher{}, Runner: triRunner{}, Dir: t.TempDir(), K: 3, Iterations: 3, Patience: 2, PartitionDepth: tt.depth}
		var lines []string
		cfg.Progress = func(ev Event) {
			if ev.Kind == EventPartition {
				lines = append(lines, ev.Line())
			}
		}
		res, err := Compile(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := Shape(res.Plan); got != tt.wantShape || math.Abs(res.Heldout.Risk()-tt.wantRisk) > 1e-9 {
			t.Errorf("depth %d: plan %s, held-out risk %.3f; want %s, %.3f\n%s", tt.depth, got, res.Heldout.Risk(), tt.wantShape, tt.wantRisk, strings.Join(lines, "\n"))
		}
		// The nested partitions report through the parent's progress with their paths.
		nested := strings.Contains(strings.Join(lines, "\n"), "[partition incumbent] iteration 1: partition incumbent/edited")
		if nested != (tt.depth == 2) {
			t.Errorf("depth %d: nested partition lines %v:\n%s", tt.depth, nested, strings.Join(lines, "\n"))
		}
	}
}

// codeRunner: a plan whose node is code is right on kind A items only (every third item, the
// word "alpha-kind-marker"), the plain prompt on the others.
type codeRunner struct{}

func (cr codeRunner) Run(ctx context.Context, p *plans.Plan, in map[string]any) (*runtime.RunResult, error) {
	if len(p.Routers()) == 1 {
		return routeFake(ctx, cr, p, in)
	}
	q := in["question"].(string)
	a := tokens(q)["alpha-kind-marker"]
	n := p.Nodes[0]
	label, _ := strconv.Atoi(strings.Fields(strings.TrimPrefix(q, "q"))[0])
	right := (n.Code != nil && a) || (n.LLM != nil && !a && (strings.Contains(n.LLM.Prompt, "mode=plain") || strings.Contains(n.LLM.Prompt, "mode=weak") && label%2 == 0))
	out := any(-1)
	if right {
		out = label
	}
	tn := &trace.Node{ID: n.ID, Substrate: string(n.Substrate), Attempts: 1, Value: out}
	if n.LLM != nil {
		raw := fmt.Sprint(out)
		tn.Raw, tn.Prompt = &raw, []trace.Message{{Role: "user", Content: q}}
	}
	return &runtime.RunResult{Output: out, Trace: &trace.Run{Output: out, Calls: 1, Inputs: in, Nodes: []*trace.Node{tn}}}, nil
}

// offloadTeacher offloads the prompt to a code node, and from a "mode=weak" prompt also
// proposes "mode=plain".
type offloadTeacher struct{}

func (offloadTeacher) Name() string { return "offload" }
func (offloadTeacher) Propose(_ context.Context, in teacher.Input) (teacher.Proposal, error) {
	n := in.Plan.Nodes[0]
	if n.LLM == nil {
		return teacher.Proposal{Tokens: 1}, nil
	}
	p := teacher.Proposal{Tokens: 10, Candidates: []edit.Candidate{{Edits: []edit.Edit{{Action: edit.Offload, Node: "answer",
		Source: "package main\n\n// a solver for some of the questions\nfunc main() {}\n", Inputs: map[string]string{"text": "inputs.question"},
		Outputs: map[string]plans.Type{"value": plans.TypeNumber}}}}}}
	if strings.Contains(n.LLM.Prompt, "mode=weak") {
		p.Candidates = append(p.Candidates, edit.Candidate{Edits: []edit.Edit{{Action: edit.RefinePrompt, Node: "answer", Prompt: "mode=plain {{ inputs.question }}"}}})
	}
	return p, nil
}

// TestProbeFailedSplit: a new code node right on a third of the items fails its probe tests and
// never reaches the held-out test; its training wins and losses still show which items it helps,
// so the compiler splits by them and routes the code node's items to it.
func TestProbeFailedSplit(t *testing.T) {
	cfg := Config{Initial: plainPlan(t), Train: triItems(60, 0), Heldout: triItems(90, 1000), Metric: metric.Exact{},
		Teacher: offloadTeacher{}, Runner: codeRunner{}, Dir: t.TempDir(), K: 3, Iterations: 3, Patience: 2, NodeProbesOff: true}
	res, err := Compile(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	parts, routed := partitionEvents(t, cfg.Dir)
	if routed == nil || !*routed.Accepted || len(parts) != 2 {
		t.Fatalf("routed %+v, partitions %+v", routed, parts)
	}
	if got := Shape(res.Plan); got != "code→router{edited: code | incumbent: llm}" || res.Heldout.Risk() != 0 {
		t.Errorf("plan %s, held-out risk %v", got, res.Heldout.Risk())
	}
	if !strings.Contains(routed.Summary[0], `has the word "alpha-kind-marker" -> edited`) {
		t.Errorf("routed: %s", routed.Summary)
	}

	// Round 1 accepts "mode=plain" beside the failing code node, which is kept; round 2 accepts
	// nothing and splits by it. A resumed compile (killed after round 1) keeps it too.
	weak := plainPlan(t)
	weak.Nodes[0].LLM.Prompt = "mode=weak {{ inputs.question }}"
	cfg.Initial, cfg.Dir = weak, t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg.Progress = func(ev Event) {
		if ev.Kind == EventRound && ev.Iteration == 1 {
			cancel() // killed once round 1 is checkpointed
		}
	}
	if _, err := Compile(ctx, cfg); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted compile: %v", err)
	}
	if st, err := LoadState(cfg.Dir); err != nil || st.Iteration != 1 || st.PendingSplit == nil {
		t.Fatalf("after round 1: %+v (%v)", st, err)
	}
	cfg.Initial, cfg.Progress = nil, nil
	res, err = Resume(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, routed = partitionEvents(t, cfg.Dir)
	if got := Shape(res.Plan); got != "code→router{edited: code | incumbent: llm}" || routed == nil || !strings.Contains(routed.Summary[0], "an earlier round's candidate") {
		t.Errorf("plan %s, routed %+v", got, routed)
	}
}
