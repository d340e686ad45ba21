package runtime_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/sgde-project/sgde/runtime/llm"
	"github.com/sgde-project/sgde/runtime/trace"
)

// TestNodeStartTimes checks that each node's Start and LatencyMS place it inside the run and
// after the nodes it depends on: what sgde serve turns into per-node spans.
func TestNodeStartTimes(t *testing.T) {
	s := &student{delay: 2 * time.Millisecond, answer: func(req llm.Request) (string, error) { return lastUser(req), nil }}
	r := newRunner(t, s, 4)
	res, err := r.Run(context.Background(), mustPlan(t, planDiamond), map[string]any{"x": json.Number("4")})
	if err != nil {
		t.Fatal(err)
	}
	tr := res.Trace
	// LatencyMS is truncated to the microsecond.
	const slack = time.Microsecond
	end := func(start time.Time, ms float64) time.Time {
		return start.Add(time.Duration(ms * float64(time.Millisecond)))
	}
	runEnd := end(tr.Start, tr.LatencyMS)
	byID := map[string]*trace.Node{}
	for _, n := range tr.Nodes {
		byID[n.ID] = n
		if n.Start.IsZero() || n.Start.Location() != time.UTC {
			t.Fatalf("node %s start %v, want a UTC time", n.ID, n.Start)
		}
		if n.Start.Before(tr.Start) || end(n.Start, n.LatencyMS).After(runEnd.Add(slack)) {
			t.Errorf("node %s [%v +%vms] outside the run [%v +%vms]", n.ID, n.Start, n.LatencyMS, tr.Start, tr.LatencyMS)
		}
	}
	for _, dep := range [][2]string{{"a", "b"}, {"a", "c"}, {"b", "join"}, {"c", "join"}} {
		before, after := byID[dep[0]], byID[dep[1]]
		if end(before.Start, before.LatencyMS).After(after.Start) {
			t.Errorf("node %s starts at %v, before %s ends (%v +%vms)", dep[1], after.Start, dep[0], before.Start, before.LatencyMS)
		}
	}
	if byID["join"].LatencyMS < 2 {
		t.Errorf("join latency %vms, want at least the student's 2ms delay", byID["join"].LatencyMS)
	}
}
