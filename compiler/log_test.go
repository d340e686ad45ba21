package compiler

import "testing"

// TestCandidateLine: a candidate event's progress line has no empty field: the event saying
// the teacher proposed nothing usable (no candidate, no summary) reads as such, and the
// compiler's own routers are named as routers rather than "candidate 0".
func TestCandidateLine(t *testing.T) {
	for _, tc := range []struct {
		name string
		ev   Event
		want string
	}{
		{"teacher candidate", Event{Iteration: 2, Kind: EventCandidate, Candidate: 1, Summary: []string{"refine answer", "add check"}, Accepted: bptr(true), Reason: "held-out risk dropped"},
			"iteration 2: candidate 1 accepted: refine answer; add check: held-out risk dropped"},
		{"candidate without summary", Event{Iteration: 2, Kind: EventCandidate, Candidate: 3, Accepted: bptr(false), Reason: "plan validation failed: x"},
			"iteration 2: candidate 3 rejected: plan validation failed: x"},
		{"no usable candidate", Event{Iteration: 1, Kind: EventCandidate, Accepted: bptr(false), Reason: "the teacher proposed no usable candidate"},
			"iteration 1: no candidate: the teacher proposed no usable candidate"},
		{"router by answer forms", Event{Iteration: 1, Kind: EventCandidate, Summary: []string{"route by the form of the expected answers"}, Accepted: bptr(false), Reason: "not significant"},
			"iteration 1: router by answer forms rejected: route by the form of the expected answers: not significant"},
		{"split by an earlier candidate", Event{Iteration: 4, Kind: EventCandidate, Summary: []string{"route between an earlier round's candidate and the incumbent: x"}, Accepted: bptr(false), Reason: "no rule"},
			"iteration 4: router rejected: route between an earlier round's candidate and the incumbent: x: no rule"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.ev.Line(); got != tc.want {
				t.Errorf("line\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}
