package trace

import "testing"

func TestCountSources(t *testing.T) {
	sample := Sample{Nodes: []*Node{{ID: "a", Source: "recorded"}, {ID: "b"}}}
	nodes := []*Node{
		{ID: "x", Source: "simulated"},
		{ID: "y", Source: "model"},
		nil,
		{ID: "c", Consensus: &Consensus{Samples: []Sample{sample, sample}}},
	}
	got := CountSources(nodes)
	if got != (Sources{Recorded: 2, Simulated: 1, Model: 1}) || got.Total() != 4 || got.RecordedShare() != 0.5 {
		t.Fatalf("CountSources = %+v", got)
	}
	if s := got.String(); s != "student answers: 50% recorded, 25% simulated, 25% from a model endpoint" {
		t.Errorf("String = %q", s)
	}
	if s := (Sources{}).String(); s != "no student answers" {
		t.Errorf("empty String = %q", s)
	}
}
