package compiler

import (
	"fmt"
	"strings"
	"time"

	"github.com/sgde-project/sgde/compiler/edit"
	"github.com/sgde-project/sgde/runtime/trace"
)

// Event kinds of the compile log.
const (
	EventStart     = "start"     // the compile began (or resumed)
	EventIncumbent = "incumbent" // the current plan was evaluated
	EventCritique  = "critique"  // the teacher's per-node critique for a round
	EventTeacher   = "teacher"   // a problem with the teacher's reply (repaired or dropped)
	EventCandidate = "candidate" // one candidate, accepted or rejected, with the reason
	EventRound     = "round"     // a round ended; the checkpoint is written after it
	EventStop      = "stop"      // the compile stopped, with the reason
	EventPartition = "partition" // one side of a learned split was compiled as its own plan
)

// Event is one line of the compile log (compile-log.jsonl).
type Event struct {
	Time      time.Time `json:"time"`
	Iteration int       `json:"iteration"`
	Kind      string    `json:"kind"`
	// Candidate numbers the candidates of a round from 1.
	Candidate int               `json:"candidate,omitempty"`
	Edits     []edit.Edit       `json:"edits,omitempty"`
	Summary   []string          `json:"summary,omitempty"`
	Rationale string            `json:"rationale,omitempty"`
	Critique  map[string]string `json:"critique,omitempty"`
	Accepted  *bool             `json:"accepted,omitempty"`
	Reason    string            `json:"reason,omitempty"`
	Digest    string            `json:"digest,omitempty"`
	// Risks on the training and held-out batches; IncumbentRisk is the held-out risk the
	// candidate was compared with.
	TrainRisk     *float64 `json:"train_risk,omitempty"`
	HeldoutRisk   *float64 `json:"heldout_risk,omitempty"`
	IncumbentRisk *float64 `json:"incumbent_risk,omitempty"`
	// PValue is the exact McNemar p-value; Wins and Losses are the discordant pairs in the
	// candidate's favour and against it.
	PValue *float64 `json:"p_value,omitempty"`
	Wins   int      `json:"wins,omitempty"`
	Losses int      `json:"losses,omitempty"`
	// Probes is what each probe of the candidate's new code nodes found (see probeCandidate).
	Probes []ProbeResult `json:"probes,omitempty"`
	// CallsPerItem is the candidate's student calls per held-out item.
	CallsPerItem *float64 `json:"calls_per_item,omitempty"`
	// A routed candidate's routing on the held-out items, as one of two figures with their own
	// names (RouterCheck): RouterAccuracy, of a teacher's route edit, is 1 - misrouted/checked
	// as in `sgde eval` (runtime.RouterReport); RoutableAccuracy, of a learned split, is
	// 1 - misrouted/routable, over the items its branches, each run alone, disagree on
	// (route.go). Misrouted is the count behind whichever is set.
	RouterAccuracy   *float64 `json:"router_accuracy,omitempty"`
	RoutableAccuracy *float64 `json:"routable_accuracy,omitempty"`
	Misrouted        int      `json:"misrouted,omitempty"`
	// Partitions are the sides of a routed candidate, each compiled as its own plan (one for
	// a partition event).
	Partitions []Partition `json:"partitions,omitempty"`
	// Partition names the partition compile an event comes from ("edited", "edited/incumbent");
	// set only on events handed to Config.Progress (a partition's own log is in its folder).
	Partition string `json:"partition,omitempty"`
	// Answers counts the held-out student answers behind HeldoutRisk by source.
	Answers *trace.Sources `json:"student_answers,omitempty"`
	// Spent so far: teacher tokens, student calls, wall seconds.
	TeacherTokens int64   `json:"teacher_tokens,omitempty"`
	StudentCalls  int64   `json:"student_calls,omitempty"`
	WallSeconds   float64 `json:"wall_seconds,omitempty"`
}

func fptr(f float64) *float64 { return &f }
func bptr(b bool) *bool       { return &b }

// Line is the event as one line of progress output, or "" for events that are not shown.
func (ev Event) Line() string {
	line := ev.line()
	if ev.Partition != "" && line != "" {
		line = "[partition " + ev.Partition + "] " + line
	}
	return line
}

func (ev Event) line() string {
	switch ev.Kind {
	case EventIncumbent:
		return fmt.Sprintf("iteration 0: initial plan, held-out risk %.3f%s", deref(ev.HeldoutRisk), sourcesText(ev.Answers))
	case EventCritique:
		return fmt.Sprintf("iteration %d: testing and evaluating the teacher's candidates", ev.Iteration)
	case EventCandidate:
		verdict := "rejected"
		if ev.Accepted != nil && *ev.Accepted {
			verdict = "accepted"
		}
		summary := strings.Join(ev.Summary, "; ")
		who := fmt.Sprintf("candidate %d %s", ev.Candidate, verdict)
		if ev.Candidate == 0 {
			// Not one of the teacher's candidates: the compiler's own router, or the event
			// saying the teacher's reply had none to evaluate (no summary then).
			switch {
			case strings.HasPrefix(summary, "route by the form"):
				who = "router by answer forms " + verdict // cluster.go
			case strings.HasPrefix(summary, "route"):
				who = "router " + verdict // a split by an earlier round's candidate (route.go)
			case summary == "":
				who = "no candidate"
			}
		}
		if summary != "" {
			summary += ": "
		}
		return fmt.Sprintf("iteration %d: %s: %s%s%s", ev.Iteration, who, summary, ev.Reason, sourcesText(ev.Answers))
	case EventRound:
		return fmt.Sprintf("iteration %d: held-out risk %.3f%s", ev.Iteration, deref(ev.HeldoutRisk), sourcesText(ev.Answers))
	case EventStop:
		return "stopped: " + ev.Reason
	case EventPartition:
		var parts []string
		for _, p := range ev.Partitions {
			parts = append(parts, p.Line())
		}
		return fmt.Sprintf("iteration %d: %s", ev.Iteration, strings.Join(parts, "; "))
	case EventTeacher:
		return fmt.Sprintf("iteration %d: teacher: %s", ev.Iteration, ev.Reason)
	}
	return ""
}

// Decision reports whether the event records a decision (a candidate's verdict, a round's end,
// the stop) that progress output keeps on screen.
func (ev Event) Decision() bool {
	return ev.Kind == EventCandidate || ev.Kind == EventRound || ev.Kind == EventStop || ev.Kind == EventPartition
}

func deref(f *float64) float64 {
	if f == nil {
		return 0
	}
	return *f
}

// sourcesText is "; student answers: N% recorded, M% simulated" for a progress line.
func sourcesText(s *trace.Sources) string {
	if s == nil {
		return ""
	}
	return "; " + s.String()
}
