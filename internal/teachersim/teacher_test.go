package teachersim

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sgde-project/sgde/compiler/edit"
	"github.com/sgde-project/sgde/compiler/teacher"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/llm"
	"github.com/sgde-project/sgde/sandbox"
	"github.com/sgde-project/sgde/wasm"
)

type record struct {
	Input  string `json:"input"`
	Target any    `json:"target"`
}

func readFamily(t testing.TB, file string) []record {
	t.Helper()
	f, err := os.Open("../../testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// familyFiles maps each family the teacher knows to the data it was written against; the
// teacher itself never sees these names.
var familyFiles = map[string]string{
	"boolean":      "bbh/boolean_expressions.jsonl",
	"arithmetic":   "bbh/multistep_arithmetic_two.jsonl",
	"brackets":     "bbh/dyck_languages.jsonl",
	"sorting":      "bbh/word_sorting.jsonl",
	"navigation":   "bbh/navigate.jsonl",
	"truthfulness": "bbh/web_of_lies.jsonl",
	"swaps":        "bbh/tracking_shuffled_objects_five_objects.jsonl",
}

func TestRecognise(t *testing.T) {
	for name, file := range familyFiles {
		recs := readFamily(t, file)
		var qs []string
		for _, r := range recs {
			qs = append(qs, r.Input)
		}
		if f := recognise(qs); f == nil || f.name != name {
			t.Errorf("%s: recognised %v, want %s", file, f, name)
		}
	}
	for _, file := range []string{"bbh/date_understanding.jsonl", "bbh/object_counting.jsonl", "bbh/sports_understanding.jsonl", "gsm-hard/slice.jsonl"} {
		recs := readFamily(t, file)
		var qs []string
		for _, r := range recs[:20] {
			qs = append(qs, r.Input)
		}
		if f := recognise(qs); f != nil {
			t.Errorf("%s recognised as %s", file, f.name)
		}
	}
	mixed := []string{readFamily(t, familyFiles["boolean"])[0].Input, readFamily(t, familyFiles["sorting"])[0].Input}
	if f := recognise(mixed); f != nil {
		t.Errorf("mixed questions recognised as %s", f.name)
	}
}

// zeroShot is the BBH zero-shot plan the compiler starts from.
func zeroShot(t testing.TB) *plans.Plan {
	p, err := plans.Load("../../testdata/plans/bbh-zero-shot.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// input renders the evidence the compiler would show for recs.
func input(t testing.TB, p *plans.Plan, recs []record) teacher.Input {
	ev := teacher.NodeEvidence{Node: "answer"}
	for i, r := range recs {
		prompt := strings.Replace(p.Nodes[0].LLM.Prompt, "{{ inputs.question }}", r.Input, 1)
		ex := teacher.Example{Item: r.Input[:5], Inputs: map[string]any{"question": r.Input}, Prompt: prompt, Raw: "?", Value: "?", PlanOutput: "?", Expected: r.Target}
		if i%2 == 0 {
			ev.Failing = append(ev.Failing, ex)
		} else {
			ev.Passing = append(ev.Passing, ex)
		}
	}
	return teacher.Input{Plan: p, Nodes: []teacher.NodeEvidence{ev}, K: 2, Round: 1}
}

// TestRepliesThroughLLMTeacher: the compiler's LLM teacher, over HTTP, reads every reply style
// and sees each text fault for what it is.
func TestRepliesThroughLLMTeacher(t *testing.T) {
	p := zeroShot(t)
	recs := readFamily(t, familyFiles["sorting"])[:6]
	cases := []struct {
		style, fault string
		problem      string // a compile-log problem the reply must cause
		candidates   int
	}{
		{StyleThink, FaultNone, "", 1},
		{StyleFence, FaultNone, "", 1},
		{StyleProse, FaultNone, "", 1},
		{StyleFence, FaultJSON, "reply rejected", 1},
		{StyleThink, FaultOverlong, "reply too long", 1},
		{StyleProse, FaultMissingNode, "", 1},
	}
	for _, tc := range cases {
		t.Run(tc.style+"/"+tc.fault, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			srv, err := Start(ctx, "127.0.0.1:0", NewConfig().WithStyles(tc.style).WithFaults(tc.fault))
			if err != nil {
				t.Fatal(err)
			}
			cl, err := llm.New(llm.NewConfig(srv.URL(), srv.Model()))
			if err != nil {
				t.Fatal(err)
			}
			prop, err := teacher.NewLLM(cl, srv.Model(), 0).Propose(ctx, input(t, p, recs))
			if err != nil {
				t.Fatal(err)
			}
			joined := strings.Join(prop.Problems, "\n")
			if tc.problem != "" && !strings.Contains(joined, tc.problem) {
				t.Errorf("problems %q lack %q", joined, tc.problem)
			}
			if tc.problem == "" && joined != "" {
				t.Errorf("unexpected problems %q", joined)
			}
			if len(prop.Candidates) != tc.candidates {
				t.Fatalf("%d candidates, want %d", len(prop.Candidates), tc.candidates)
			}
			e := prop.Candidates[0].Edits[0]
			if e.Action != edit.Offload || !strings.Contains(e.Source, "func solve(q string)") {
				t.Errorf("edit %s, want an offload with a solver", e.Summary())
			}
			_, aerr := edit.Apply(p, e)
			if (tc.fault == FaultMissingNode) != (aerr != nil) {
				t.Errorf("apply: %v", aerr)
			}
			d := srv.Decisions()
			if d[0].Family != "sorting" || d[0].Style != tc.style {
				t.Errorf("decision %+v", d[0])
			}
		})
	}
}

// TestFaultsAreSeeded: the same seed gives the same faults, a rate of 0 none, and a rate of
// 0.5 roughly half, drawn from every class.
func TestFaultsAreSeeded(t *testing.T) {
	count := func(cfg *Config) (map[string]int, []string) {
		m := map[string]int{}
		var seq []string
		for i := range 400 {
			f := pickFault(cfg, uint64(i), strings.Repeat("x", i))
			m[f]++
			seq = append(seq, f)
		}
		return m, seq
	}
	_, a := count(NewConfig().WithSeed(3).WithFaultRate(0.5))
	m, b := count(NewConfig().WithSeed(3).WithFaultRate(0.5))
	if strings.Join(a, ",") != strings.Join(b, ",") {
		t.Error("same seed, different faults")
	}
	if m[FaultNone] < 150 || m[FaultNone] > 250 {
		t.Errorf("%d clean of 400 at rate 0.5", m[FaultNone])
	}
	for _, f := range Faults() {
		if m[f] == 0 {
			t.Errorf("fault %s never drawn", f)
		}
	}
	if m, _ := count(NewConfig().WithSeed(3)); m[FaultNone] != 400 {
		t.Errorf("faults drawn at rate 0: %v", m)
	}
	if err := NewConfig().WithFaults("nope").Validate(); err == nil {
		t.Error("unknown fault accepted")
	}
}

func FuzzReadRequest(f *testing.F) {
	f.Add("Round 1. Propose up to 3 candidates.\n\nPlan:\n{\"nodes\":[]}\n\n## Node a: 1 executions on wrong items, 0 on right items\n\n[wrong item 1] expected 2, plan returned 3\nprompt: Q: x\nvalue: 3\n")
	f.Add("Round 2. Propose up to 1 candidates.\n\nPlan:\n{}\n")
	f.Add("hello")
	f.Fuzz(func(t *testing.T, s string) {
		r, ok := readRequest([]message{{Role: "user", Content: s}})
		if ok && r.plan == nil {
			t.Fatal("ok without a plan")
		}
		if ok {
			decide(r, FaultNone) // must not panic on any plan it could read
		}
	})
}

// TestSolversOnTheirFamilies runs each solver, built to WebAssembly, on every item of the
// family it was written for.
func TestSolversOnTheirFamilies(t *testing.T) {
	if os.Getenv("SGDE_TEST_LONG") == "" {
		t.Skip("long: make test-long")
	}
	ctx := context.Background()
	eng, err := sandbox.New(ctx, plans.EngineWazero, sandbox.WithMetering(sandbox.MeterWallClock))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	b, err := wasm.NewBuilder()
	if err != nil {
		t.Fatal(err)
	}
	r, err := runtime.New(runtime.Options{Engine: eng, Builder: b})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(ctx)
	for i := range families {
		f := &families[i]
		if only := os.Getenv("SOLVER"); only != "" && only != f.name {
			continue
		}
		recs := readFamily(t, familyFiles[f.name])
		p := &plans.Plan{APIVersion: "sgde/v1", Kind: "Plan", Metadata: plans.Metadata{Name: f.name},
			Inputs: []plans.Input{{Name: "question", Type: plans.TypeString}}, Output: "solve.answer",
			Nodes: []plans.Node{{ID: "solve", Substrate: plans.SubstrateCode, Code: &plans.CodeNode{
				Source: f.source(""), Inputs: map[string]string{"question": "inputs.question"},
				Outputs: map[string]plans.Type{"answer": plans.TypeString}}}}}
		if err := p.Validate(); err != nil {
			t.Fatal(err)
		}
		right := 0
		for _, rec := range recs {
			res, err := r.Run(ctx, p, map[string]any{"question": rec.Input})
			if err == nil && res.Output == rec.Target {
				right++
			} else if err != nil {
				t.Logf("%s: %q: %v", f.name, rec.Input[:min(len(rec.Input), 80)], err)
			}
		}
		t.Logf("%s: %d/%d", f.name, right, len(recs))
		if right < len(recs)*98/100 {
			t.Errorf("%s solver right on %d of %d", f.name, right, len(recs))
		}
	}
}

// TestNoTaskNames: the teacher's code (solvers included) names no task or data set, so it can
// only tell families apart by the questions in the traces.
func TestNoTaskNames(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	more, _ := filepath.Glob("solvers/*")
	for _, f := range append(files, more...) {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		low := strings.ToLower(string(b))
		for _, name := range []string{"boolean_expressions", "multistep", "dyck", "word_sorting", "navigate", "web_of_lies", "gsm", "bbh", ".metadata", ".labels"} {
			if strings.Contains(low, name) {
				t.Errorf("%s mentions %q", f, name)
			}
		}
	}
}
