package compiler

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"time"

	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/trace"
)

// Per-partition compiles (issue 17). When the data is split (by a rule learned from an edit's
// wins and losses, route.go; by the form of the expected answers, cluster.go; or by a teacher's
// route edit, teacherroute.go), each partition is compiled as its own plan: a compile of its own
// (its own training and held-out items, acceptance tests, checkpoint, log and cost) in a folder
// below the parent's, started from the plan the evidence favours on it. The parent then
// assembles a router over the compiled plans and accepts it only by the usual held-out test on
// all its held-out items. A partition compile may itself route again, down to
// Config.PartitionDepth levels; a partition with fewer than Config.MinPartition training or
// held-out items is not compiled and keeps its starting plan.

// Partition is what the log and the checkpoint say about one partition of a split.
type Partition struct {
	// Path names the partition from the top compile: "edited", "edited/incumbent", ...
	Path string `json:"path"`
	// Branch is the router branch the partition's plan became.
	Branch string `json:"branch"`
	// Rule says which items the partition holds, in terms of the input text only.
	Rule    string `json:"rule"`
	TrainN  int    `json:"train_n"`
	HeldN   int    `json:"heldout_n"`
	Dir     string `json:"dir,omitempty"`
	Skipped string `json:"skipped,omitempty"`
	// Compiled is false when the partition kept its starting plan uncompiled (Skipped says why).
	Compiled bool `json:"compiled"`
	// StartShape and Shape are the shapes (see Shape) of the starting and the compiled plan;
	// StartAccuracy and HeldoutAccuracy their accuracy on the partition's held-out items.
	StartShape      string  `json:"start_shape"`
	Shape           string  `json:"shape"`
	StartAccuracy   float64 `json:"start_accuracy"`
	HeldoutAccuracy float64 `json:"heldout_accuracy"`
	// Iterations, StopReason and the costs are the partition compile's own.
	Iterations    int            `json:"iterations,omitempty"`
	StopReason    string         `json:"stop_reason,omitempty"`
	StudentCalls  int64          `json:"student_calls,omitempty"`
	TeacherTokens int64          `json:"teacher_tokens,omitempty"`
	Answers       *trace.Sources `json:"student_answers,omitempty"`
}

// Line is the partition as one line of progress output and of the compile's text report.
func (p Partition) Line() string {
	head := fmt.Sprintf("partition %s (%s): %d training, %d held-out items", p.Path, p.Rule, p.TrainN, p.HeldN)
	if !p.Compiled {
		return fmt.Sprintf("%s: kept %s uncompiled (%s); held-out accuracy %.1f%%", head, p.StartShape, p.Skipped, 100*p.HeldoutAccuracy)
	}
	return fmt.Sprintf("%s: compiled %s -> %s, held-out accuracy %.1f%% -> %.1f%% (%d iterations, %d student calls, %d teacher tokens; stopped: %s)%s",
		head, p.StartShape, p.Shape, 100*p.StartAccuracy, 100*p.HeldoutAccuracy, p.Iterations, p.StudentCalls, p.TeacherTokens, p.StopReason, sourcesText(p.Answers))
}

// RouterCheck is a router's routing on held-out items, measured one of two ways, each with
// its own name so that the two figures are never printed under one:
//   - a learned split (route.go) runs each branch alone on every held-out item: Routable counts
//     the items its branches disagree on (with two branches, those exactly one gets right) and
//     Misrouted those of them the router sent to a branch that gets them wrong. Its accuracy is
//     the "routable accuracy".
//   - a teacher's route edit (teacherroute.go) is checked like `sgde eval --route-check`
//     (runtime.RouteCheck): Checked counts the items whose routing is known (every item the
//     plan got right, and the wrong ones all of whose other branches were run) and Misrouted
//     those sent to a wrong branch while another was right. Its accuracy is the "router
//     accuracy" of runtime.RouterReport.
//
// Exactly one of Routable and Checked is set (both zero: nothing could be checked).
type RouterCheck struct {
	Routable  int `json:"routable"`
	Checked   int `json:"checked,omitempty"`
	Misrouted int `json:"misrouted"`
}

// N is the number of items the check is over (the denominator of Accuracy).
func (r RouterCheck) N() int { return r.Routable + r.Checked }

// Accuracy is the share of the checked or routable items routed right (1 when there are none).
func (r RouterCheck) Accuracy() float64 {
	if r.N() == 0 {
		return 1
	}
	return 1 - float64(r.Misrouted)/float64(r.N())
}

// Line describes the check in words, under the name of the figure it measured.
func (r RouterCheck) Line() string {
	if r.Checked > 0 {
		return fmt.Sprintf("router accuracy %.1f%% (%d misrouted of %d checked held-out items: the branch taken was wrong while another was right)", 100*r.Accuracy(), r.Misrouted, r.Checked)
	}
	return fmt.Sprintf("routable accuracy %.1f%% (%d misrouted of %d routable held-out items: those its branches, each run alone, disagree on)", 100*r.Accuracy(), r.Misrouted, r.Routable)
}

// part is a partition being compiled.
type part struct {
	Partition
	start *plans.Plan
	// startHeld is the starting plan's correctness on every held-out item of the parent.
	startHeld []bool
	trainIdx  []int
	heldIdx   []int
	plan      *plans.Plan
	// held is the compiled plan's scores on the partition's held-out items (when compiled).
	held Scores
}

func pick(items []runtime.Item, idx []int) []runtime.Item {
	out := make([]runtime.Item, len(idx))
	for i, j := range idx {
		out[i] = items[j]
	}
	return out
}

func accuracyOf(bits []bool, idx []int) float64 {
	if len(idx) == 0 {
		return 0
	}
	n := 0
	for _, j := range idx {
		if bits[j] {
			n++
		}
	}
	return float64(n) / float64(len(idx))
}

// partitions cuts the training and held-out items by l, one partition per branch, each to be
// compiled from its start.
func (c *compiler) partitions(iter int, l ruleList, starts map[string]origin) []*part {
	var ps []*part
	for _, br := range l.branches {
		p := &part{Partition: Partition{Branch: br, Path: path.Join(c.cfg.path, br), Rule: l.side(br),
			Dir: filepath.Join("partitions", fmt.Sprintf("iter-%d-%s", iter, br))}}
		p.start, p.startHeld = starts[br].plan, starts[br].held
		for i, it := range c.cfg.Train {
			if l.branch(it.Inputs[l.field]) == br {
				p.trainIdx = append(p.trainIdx, i)
			}
		}
		for i, it := range c.cfg.Heldout {
			if l.branch(it.Inputs[l.field]) == br {
				p.heldIdx = append(p.heldIdx, i)
			}
		}
		p.TrainN, p.HeldN = len(p.trainIdx), len(p.heldIdx)
		if small := starts[br].ifSmall; small != nil && (p.TrainN < c.cfg.MinPartition || p.HeldN < c.cfg.MinPartition) {
			p.start, p.startHeld = small.plan, small.held
		}
		p.StartShape = Shape(p.start)
		if p.startHeld != nil {
			p.StartAccuracy = accuracyOf(p.startHeld, p.heldIdx)
		}
		ps = append(ps, p)
	}
	return ps
}

// compilePartition compiles p as a plan of its own in its own folder, or keeps its starting
// plan when p is too small or the budgets are spent. A resumed parent resumes the partition
// compile from its checkpoint when that checkpoint is this partition's; otherwise it starts over
// (the response cache keeps what was paid for).
func (c *compiler) compilePartition(ctx context.Context, p *part) error {
	p.plan, p.HeldoutAccuracy = p.start, p.StartAccuracy
	sub, skip := c.partitionConfig(p)
	if skip != "" {
		p.Skipped = skip
		return nil
	}
	cfg := c.cfg
	resume := c.resumed && samePartition(sub)
	res, err := start(ctx, sub, resume)
	if err != nil {
		return fmt.Errorf("compile partition %s: %w", p.Path, err)
	}
	if cfg.Ledger != nil {
		c.st.StudentCalls = cfg.Ledger.Count()
	} else {
		c.st.StudentCalls += res.State.StudentCalls
	}
	c.st.TeacherTokens += res.State.TeacherTokens
	c.st.StudentTokens += res.State.StudentTokens
	q, err := clonePlan(res.Plan)
	if err != nil {
		return err
	}
	// The branch carries no provenance of its own: provenance is part of a plan's digest, and
	// its compile time would make the routed plan's digest differ run to run. The partition's
	// record (log and checkpoint) keeps its cost and risks instead.
	q.Provenance = nil
	p.plan, p.held, p.Compiled = q, res.Heldout, true
	if p.startHeld == nil && len(res.State.Curve) > 0 {
		p.StartAccuracy = 1 - res.State.Curve[0].HeldoutRisk
	}
	p.Shape = Shape(q)
	p.HeldoutAccuracy = 1 - res.Heldout.Risk()
	p.Iterations, p.StopReason = res.State.Iteration, res.StopReason
	p.StudentCalls, p.TeacherTokens = res.State.StudentCalls, res.State.TeacherTokens
	p.Answers = ptrTo(res.Heldout.Answers())
	return nil
}

// partitionConfig is the configuration of p's compile, or why p is not compiled: the parent's
// settings with p's items and folder, one level deeper, and what is left of the budgets.
func (c *compiler) partitionConfig(p *part) (Config, string) {
	cfg := c.cfg
	sub := cfg
	sub.Initial, sub.initialGiven = p.start, true
	sub.Train, sub.Heldout = pick(cfg.Train, p.trainIdx), pick(cfg.Heldout, p.heldIdx)
	sub.Dir = filepath.Join(cfg.Dir, p.Dir)
	sub.depth, sub.path = cfg.depth+1, p.Path
	sub.RoutersOff = cfg.RoutersOff || sub.depth >= cfg.PartitionDepth
	// The partition counts the requests of its own results; the parent's ledger (fed by the
	// student client) still sees every request, and the parent reads it after the partition.
	sub.Ledger = nil
	remaining := func(budget, spent int64) (int64, bool) {
		if budget <= 0 {
			return 0, true
		}
		return budget - spent, budget > spent
	}
	var ok bool
	switch {
	case p.TrainN < cfg.MinPartition || p.HeldN < cfg.MinPartition:
		return sub, fmt.Sprintf("too small to compile alone: need %d training and %d held-out items", cfg.MinPartition, cfg.MinPartition)
	case cfg.BudgetWall > 0 && c.wall() >= cfg.BudgetWall.Seconds():
		return sub, "wall-time budget spent"
	}
	if sub.BudgetStudentCalls, ok = remaining(cfg.BudgetStudentCalls, c.st.StudentCalls); !ok {
		return sub, "student call budget spent"
	}
	if sub.BudgetTeacherTokens, ok = remaining(cfg.BudgetTeacherTokens, c.st.TeacherTokens); !ok {
		return sub, "teacher token budget spent"
	}
	if cfg.BudgetWall > 0 {
		sub.BudgetWall = cfg.BudgetWall - secondsDuration(c.wall())
	}
	if cfg.Progress != nil {
		sub.Progress = func(ev Event) {
			if ev.Partition == "" {
				ev.Partition = p.Path
			}
			cfg.Progress(ev)
		}
	}
	return sub, ""
}

// samePartition reports whether sub.Dir holds a checkpoint of this very partition compile (same
// starting plan and data), which a resumed parent continues.
func samePartition(sub Config) bool {
	st, err := LoadState(sub.Dir)
	if err != nil {
		return false
	}
	init, err := decodePlan(st.Initial)
	if err != nil {
		return false
	}
	a, errA := plans.Digest(init)
	b, errB := plans.Digest(sub.Initial)
	return errA == nil && errB == nil && a == b && st.TrainDigest == DigestItems(sub.Train) && st.HeldoutDigest == DigestItems(sub.Heldout)
}

// branchHeld is the correctness of p's final plan on every held-out item of the parent: from
// the partition compile on its own items, from the starting plan's scores where the plan did
// not change, and from a new evaluation of the other partitions' items otherwise.
func (c *compiler) branchHeld(ctx context.Context, p *part, all []*part) ([]bool, error) {
	bits := make([]bool, len(c.cfg.Heldout))
	if p.startHeld != nil && (!p.Compiled || c.digest(p.plan) == c.digest(stripped(p.start))) {
		copy(bits, p.startHeld)
		return bits, nil
	}
	var others []int
	if p.Compiled {
		for k, j := range p.heldIdx {
			bits[j] = p.held.Results[k].Correct
		}
	} else {
		others = append(others, p.heldIdx...)
	}
	for _, o := range all {
		if o != p {
			others = append(others, o.heldIdx...)
		}
	}
	if len(others) == 0 {
		return bits, nil
	}
	sort.Ints(others)
	ev, err := c.eval(ctx, p.plan, pick(c.cfg.Heldout, others))
	if err != nil {
		return nil, fmt.Errorf("evaluate branch %s on the other partitions' held-out items: %w", p.Branch, err)
	}
	for k, j := range others {
		bits[j] = ev.Results[k].Correct
	}
	return bits, nil
}

// stripped is p without provenance (what a branch holds).
func stripped(p *plans.Plan) *plans.Plan {
	if p.Provenance == nil {
		return p
	}
	q, err := clonePlan(p)
	if err != nil {
		return p
	}
	q.Provenance = nil
	return q
}

func secondsDuration(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// cleanPartitions removes a partition folder left by an earlier compile into the same directory, so that
// a fresh compile never mixes in another run's partition logs.
func cleanPartitions(dir string) error {
	if err := os.RemoveAll(filepath.Join(dir, "partitions")); err != nil {
		return fmt.Errorf("remove old partition compiles: %w", err)
	}
	return nil
}
