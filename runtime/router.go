package runtime

import (
	"context"
	"fmt"
	"time"

	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime/trace"
)

// execRouter reads the classifier's value, picks a branch (plans.RouterNode.Choose) and runs
// that branch's sub-plan as a run of its own, recorded inside the router's trace node. A branch
// failure fails this run only, as any node failure does, and the error names the branch.
func (pg *Program) execRouter(ctx context.Context, st *runState, pn *pnode) (any, *trace.Node, error) {
	id, rt := pn.n.ID, pn.n.Router
	start := time.Now()
	tn := &trace.Node{ID: id, Substrate: string(pn.n.Substrate), Start: start.UTC(), Attempts: 1}
	fail := func(err error) (any, *trace.Node, error) {
		tn.LatencyMS = ms(time.Since(start))
		tn.Error, tn.ErrorKind = errText(err), KindOf(err)
		return nil, tn, err
	}
	lookup := st.lookup(id, nil)
	v, err := lookup(pn.on)
	if err != nil {
		return fail(err)
	}
	choice := rt.Choose(v)
	forced := false
	if b, ok := st.force[id]; ok {
		choice = plans.Choice{Branch: b, Reason: fmt.Sprintf("forced to branch %q (classifier said %q)", b, choice.Branch)}
		forced = true
	}
	tn.Route = &trace.Route{On: pn.on.String(), Classified: v, Branch: choice.Branch, Reason: choice.Reason, Defaulted: choice.Defaulted, Forced: forced}
	bp := pn.branches[choice.Branch]
	if bp == nil { // validation makes the default a branch; this guards a plan changed after Prepare
		return fail(nodeErr(id, KindPlan, fmt.Errorf("branch %q is not prepared", choice.Branch)))
	}
	inputs := make(map[string]any, len(bp.inputs))
	for _, in := range bp.inputs {
		x, err := lookup(in.ref)
		if err != nil {
			return fail(err)
		}
		inputs[in.name] = x
	}
	res, err := bp.prog.Run(ctx, inputs)
	if res != nil {
		tn.Route.Run = res.Trace
	}
	if err != nil {
		kind := KindOf(err)
		if ctx.Err() != nil {
			kind = KindCanceled
		}
		return fail(nodeErr(id, kind, fmt.Errorf("branch %q: %w", choice.Branch, err)))
	}
	tn.LatencyMS = ms(time.Since(start))
	tn.Value = res.Output
	return res.Output, tn, nil
}
