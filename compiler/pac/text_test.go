package pac

import (
	"strings"
	"testing"

	"github.com/sgde-project/sgde/plans"
)

func TestParseBranchItems(t *testing.T) {
	p, err := plans.Load("../../testdata/plans/mixed-routed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		specs   []string
		want    map[string]map[string]int
		wantErr string
	}{
		{nil, map[string]map[string]int{}, ""},
		{[]string{"route.arith=120", "route.choice=0"}, map[string]map[string]int{"route": {"arith": 120, "choice": 0}}, ""},
		{[]string{"route.arith=-1"}, nil, "want ROUTER.BRANCH=N"},
		{[]string{"route.arith"}, nil, "want ROUTER.BRANCH=N"},
		{[]string{"arith=3"}, nil, "want ROUTER.BRANCH=N"},
		{[]string{"route.date=3"}, nil, `no router "route" with a branch "date"`},
		{[]string{"classify.arith=3"}, nil, `no router "classify"`},
	}
	for _, tt := range tests {
		got, err := ParseBranchItems(p, tt.specs)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: err %v, want %q", tt.specs, err, tt.wantErr)
			}
			continue
		}
		if err != nil || len(got) != len(tt.want) {
			t.Errorf("%q = %v, %v; want %v", tt.specs, got, err, tt.want)
			continue
		}
		for r, bs := range tt.want {
			for b, n := range bs {
				if got[r][b] != n {
					t.Errorf("%q: %s.%s = %d, want %d", tt.specs, r, b, got[r][b], n)
				}
			}
		}
	}
}

// TestWriteText: m alone on the first line (scripts read it), and only branches given a count
// say whether they meet their bound.
func TestWriteText(t *testing.T) {
	var b strings.Builder
	if err := (Report{K: 3, Epsilon: 0.05, Delta: 0.05, M: 126}).WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if first, _, _ := strings.Cut(b.String(), "\n"); first != "126" || !strings.Contains(b.String(), "k=3 subtask types") {
		t.Errorf("Report.WriteText = %q", b.String())
	}

	p, err := plans.Load("../../testdata/plans/mixed-routed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	given := map[string]map[string]int{"route": {"arith": 120}}
	r, err := ForRouted(p, 0.05, 0.05, given, map[string][2]int{"route": {100, 2}})
	if err != nil {
		t.Fatal(err)
	}
	b.Reset()
	if err := r.WriteText(&b, given); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	want := []string{
		"126",
		"whole plan: k=3, m=126",
		"branch route.arith: k=1, m=104 (its own items, router fixed first; delta 0.0167); 120 items routed to it: meet it",
		"branch route.choice: k=1, m=104 (its own items, router fixed first; delta 0.0167)",
		"router route: 2 of 100 held-out items misrouted; true misrouting rate <= 0.1631",
		"routed plan: risk <= 0.05 + the router's misrouting rate, with probability >= 0.95",
	}
	if len(lines) != len(want) {
		t.Fatalf("WriteText = %q, want %d lines", b.String(), len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d = %q, want it to start with %q", i+1, lines[i], w)
		}
	}
	if strings.Contains(lines[3], "routed to it") {
		t.Errorf("a branch without a count says whether it meets its bound: %q", lines[3])
	}
}
