package pac

import (
	"errors"
	"math"
	"testing"

	"github.com/sgde-project/sgde/plans"
)

func TestBound(t *testing.T) {
	tests := []struct {
		k          int
		eps, delta float64
		want       int
		wantErr    bool
	}{
		{3, 0.05, 0.05, 126, false},
		{1, 0.05, 0.05, 82, false},    // (1.0986+2.9957)/0.05 = 81.89
		{1, 0.1, 0.1, 35, false},      // (1.0986+2.3026)/0.1 = 34.01
		{10, 0.01, 0.01, 1560, false}, // (10.986+4.605)/0.01 = 1559.1
		{0, 0.05, 0.05, 0, true},
		{-1, 0.05, 0.05, 0, true},
		{3, 0, 0.05, 0, true},
		{3, 1, 0.05, 0, true},
		{3, 0.05, 0, 0, true},
		{3, 0.05, 1, 0, true},
		{3, math.NaN(), 0.05, 0, true},
		{3, 0.05, math.Inf(1), 0, true},
		{1 << 30, 1e-9, 0.5, 0, true},
	}
	for _, tt := range tests {
		got, err := Bound(tt.k, tt.eps, tt.delta)
		if tt.wantErr {
			if !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("Bound(%d, %v, %v) error = %v, want ErrInvalidArgument", tt.k, tt.eps, tt.delta, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Bound(%d, %v, %v) = %d, %v; want %d", tt.k, tt.eps, tt.delta, got, err, tt.want)
		}
		// The definition: m is the least integer meeting the inequality.
		exact := (float64(tt.k)*math.Log(3) + math.Log(1/tt.delta)) / tt.eps
		if float64(got) < exact-1e-9 || float64(got-1) >= exact {
			t.Errorf("Bound(%d, %v, %v) = %d is not the ceiling of %v", tt.k, tt.eps, tt.delta, got, exact)
		}
	}
}

func TestK(t *testing.T) {
	llm := func(id string) plans.Node {
		return plans.Node{ID: id, Substrate: plans.SubstrateLLM, LLM: &plans.LLMNode{}}
	}
	code := func(id string) plans.Node {
		return plans.Node{ID: id, Substrate: plans.SubstrateCode, Code: &plans.CodeNode{}}
	}
	cons := func(id string, members ...string) plans.Node {
		return plans.Node{ID: id, Substrate: plans.SubstrateConsensus, Consensus: &plans.ConsensusNode{Members: members}}
	}
	tests := []struct {
		name  string
		nodes []plans.Node
		want  int
	}{
		{"empty", nil, 1},
		{"zero-shot", []plans.Node{llm("answer")}, 1},
		{"pal", []plans.Node{llm("program"), code("eval")}, 2},
		{"pal in consensus", []plans.Node{llm("program"), code("eval"), cons("vote", "program", "eval")}, 1},
		{"consensus plus post", []plans.Node{llm("a"), cons("vote", "a"), code("fmt")}, 2},
		{"three", []plans.Node{llm("a"), llm("b"), code("c")}, 3},
	}
	for _, tt := range tests {
		if got := K(&plans.Plan{Nodes: tt.nodes}); got != tt.want {
			t.Errorf("%s: K = %d, want %d", tt.name, got, tt.want)
		}
	}
	if K(nil) != 1 {
		t.Error("K(nil) != 1")
	}
}

func TestForPlan(t *testing.T) {
	p := &plans.Plan{Nodes: []plans.Node{{ID: "a", Substrate: plans.SubstrateLLM}}}
	r, err := ForPlan(p, 0.05, 0.05, 81)
	if err != nil || r.M != 82 || r.Satisfied {
		t.Fatalf("ForPlan 81 = %+v, %v", r, err)
	}
	r, _ = ForPlan(p, 0.05, 0.05, 82)
	if !r.Satisfied {
		t.Fatalf("ForPlan 82 not satisfied: %+v", r)
	}
}

func TestRouted(t *testing.T) {
	p, err := plans.Load("../../testdata/plans/mixed-routed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// classify + one node in each of the two branches.
	if k := K(p); k != 3 {
		t.Fatalf("K = %d, want 3", k)
	}
	r, err := ForRouted(p, 0.05, 0.05, map[string]map[string]int{"route": {"arith": 120, "choice": 50}}, map[string][2]int{"route": {100, 2}})
	if err != nil {
		t.Fatal(err)
	}
	// Whole: k = 3 over all 170 items, m = ceil((3 ln 3 + ln 20) / 0.05) = ceil(125.8) = 126.
	if r.Whole.K != 3 || r.Whole.M != 126 || r.Whole.TrainN != 170 || !r.Whole.Satisfied {
		t.Errorf("whole = %+v", r.Whole)
	}
	// Branches: delta split over 2 branches and the router; m = ceil((ln 3 + ln 60) / 0.05) = 104.
	if len(r.Branches) != 2 {
		t.Fatalf("branches = %+v", r.Branches)
	}
	for _, b := range r.Branches {
		if b.K != 1 || b.M != 104 || math.Abs(b.Delta-0.05/3) > 1e-12 {
			t.Errorf("branch %+v", b)
		}
	}
	if !r.Branches[0].Satisfied || r.Branches[1].Satisfied {
		t.Errorf("120 items meet 104, 50 do not: %+v", r.Branches)
	}
	// Router: 2/100 + sqrt(ln 60 / 200) = 0.02 + 0.14308.
	if len(r.Router) != 1 || math.Abs(r.Router[0].Upper-0.16308) > 1e-4 {
		t.Errorf("router = %+v", r.Router)
	}
	if u := MisrouteUpper(0, 0, 0.05); u != 1 {
		t.Errorf("no held-out items: upper %v, want 1", u)
	}
}
