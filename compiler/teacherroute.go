package compiler

import (
	"context"
	"fmt"
	"path"
	"path/filepath"

	"github.com/sgde-project/sgde/plans"
)

// A teacher's route edit (edit.Route) is a partition proposal like a learned split: before the
// routed candidate meets the held-out test, each of its branches is compiled as its own plan
// (partition.go) on the training and held-out items its classifier sends there, starting from
// the branch as the teacher wrote it. The router over the compiled branches is then accepted
// only by the usual held-out test on all the held-out items, so a misrouted item counts against
// it. The partitions are the classifier's, read from the routed candidate's traces: the compiler
// never cuts them by anything but what the classifier said about the item's input.

// compileRouteBranches compiles each branch of q's top-level router (a teacher's new router) on
// its partition and returns q with the compiled branches, and the partitions. It returns q
// itself when no branch was compiled (each too small, or the budgets spent).
func (c *compiler) compileRouteBranches(ctx context.Context, iter, cand int, q *plans.Plan) (*plans.Plan, []Partition, error) {
	cfg := c.cfg
	rs := q.Routers()
	if len(rs) != 1 {
		return q, nil, nil
	}
	r := rs[0]
	train, err := c.eval(ctx, q, cfg.Train)
	if err != nil {
		return nil, nil, fmt.Errorf("evaluate candidate %d on training data for its partitions: %w", cand, err)
	}
	held, err := c.eval(ctx, q, cfg.Heldout)
	if err != nil {
		return nil, nil, fmt.Errorf("evaluate candidate %d on held-out data for its partitions: %w", cand, err)
	}
	// An item whose run failed before the router decided goes where the router sends what its
	// classifier cannot name: the default branch.
	assign := func(s Scores, i int) string {
		if b := branchOf(s, i); b != "" {
			return b
		}
		return r.Router.Default
	}
	var ps []*part
	compiled := false
	for _, b := range r.Router.Branches {
		p := &part{Partition: Partition{Branch: b.Name, Path: path.Join(cfg.path, b.Name),
			Rule: fmt.Sprintf("the teacher's classifier (%s) says %q", r.Router.On, b.Name),
			Dir:  filepath.Join("partitions", fmt.Sprintf("iter-%d-cand-%d-%s", iter, cand, b.Name))}}
		// On the items routed here the routed candidate's result is the branch's own.
		p.start, p.startHeld = b.SubPlan(), held.Bits()
		for i := range cfg.Train {
			if assign(train, i) == b.Name {
				p.trainIdx = append(p.trainIdx, i)
			}
		}
		for i := range cfg.Heldout {
			if assign(held, i) == b.Name {
				p.heldIdx = append(p.heldIdx, i)
			}
		}
		p.TrainN, p.HeldN = len(p.trainIdx), len(p.heldIdx)
		p.StartShape = Shape(p.start)
		p.StartAccuracy = accuracyOf(p.startHeld, p.heldIdx)
		if err := c.compilePartition(ctx, p); err != nil {
			return nil, nil, err
		}
		compiled = compiled || p.Compiled
		c.emit(Event{Iteration: iter, Kind: EventPartition, Partitions: []Partition{p.Partition}})
		ps = append(ps, p)
	}
	parts := make([]Partition, len(ps))
	for i, p := range ps {
		parts[i] = p.Partition
	}
	if !compiled {
		return q, parts, nil
	}
	out, err := clonePlan(q)
	if err != nil {
		return nil, nil, err
	}
	rr := out.Node(r.ID).Router
	for j, p := range ps {
		if p.Compiled {
			sub, err := clonePlan(p.plan)
			if err != nil {
				return nil, nil, err
			}
			rr.Branches[j].Plan, rr.Branches[j].Path, rr.Branches[j].Digest = sub, "", ""
		}
	}
	if err := out.Validate(); err != nil {
		return nil, nil, fmt.Errorf("routed plan over the compiled branches: %w", err)
	}
	return out, parts, nil
}

// routerClassifiers are the nodes p's top-level routers read their branch from.
func routerClassifiers(p *plans.Plan) map[string]bool {
	out := map[string]bool{}
	for _, n := range p.Routers() {
		if ref, err := plans.ParseRef(n.Router.On); err == nil && !ref.IsInput() {
			out[ref.Node] = true
		}
	}
	return out
}
