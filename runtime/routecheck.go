package runtime

import (
	"context"
	"fmt"
	"io"
	"sort"

	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime/metric"
	"github.com/sgde-project/sgde/runtime/trace"
)

// Checking routers (issue 17). With labels, an evaluation can tell a misrouted item from one no
// branch gets right: for every item the plan got wrong, each top-level router that decided is
// forced, in turn, to each branch it did not take (at most MaxRouteChecks of them, in
// declaration order), and the forced run is scored. An item whose taken branch was wrong while
// one of the others was right is misrouted. Items the plan got right count as rightly routed
// without any extra run, so the check costs at most MaxRouteChecks extra runs per wrong item and
// router, and nothing on items the plan gets right.

// MaxRouteChecks bounds the other branches run for one wrong item and one router.
const MaxRouteChecks = 8

// RouteCheck is what an evaluation needs to check routing: each top-level router's branches,
// in declaration order, and a way to run the plan with routers forced to branches.
type RouteCheck struct {
	Branches map[string][]string
	Run      func(ctx context.Context, inputs map[string]any, force map[string]string) (*RunResult, error)
}

// NewRouteCheck returns the check for p's top-level routers run by run, or nil when p has none.
func NewRouteCheck(p *plans.Plan, run func(ctx context.Context, inputs map[string]any, force map[string]string) (*RunResult, error)) *RouteCheck {
	rs := p.Routers()
	if len(rs) == 0 {
		return nil
	}
	rc := &RouteCheck{Branches: map[string][]string{}, Run: run}
	for _, n := range rs {
		for _, b := range n.Router.Branches {
			rc.Branches[n.ID] = append(rc.Branches[n.ID], b.Name)
		}
	}
	return rc
}

// RouteCheck returns the check of the program's top-level routers, or nil when it has none.
func (pg *Program) RouteCheck() *RouteCheck { return NewRouteCheck(pg.plan, pg.RunForced) }

// ItemRoute is what one top-level router did on one item.
type ItemRoute struct {
	Router    string `json:"router"`
	Branch    string `json:"branch"`
	Defaulted bool   `json:"defaulted,omitempty"`
	// Checked is true when the routing is known to be right or wrong: the item was right, or
	// the other branches were run on it. Right lists the other branches that got it right.
	Checked   bool     `json:"checked"`
	Right     []string `json:"right,omitempty"`
	Misrouted bool     `json:"misrouted,omitempty"`
}

// itemRoutes lists the decisions of tr's top-level routers.
func itemRoutes(tr *trace.Run) []ItemRoute {
	var out []ItemRoute
	for _, tn := range tr.Nodes {
		if tn != nil && tn.Route != nil && tn.Route.Branch != "" {
			out = append(out, ItemRoute{Router: tn.ID, Branch: tn.Route.Branch, Defaulted: tn.Route.Defaulted})
		}
	}
	return out
}

// checkRoutes fills in r.Routes for one item and, when the item was wrong, runs the other
// branches to find out whether it was misrouted, marking tr's route nodes. It returns the
// student requests the forced runs sent.
func checkRoutes(ctx context.Context, rc *RouteCheck, it Item, r *ItemResult, tr *trace.Run, m metric.Metric) int {
	r.Routes = itemRoutes(tr)
	if len(r.Routes) == 0 || rc == nil {
		return 0 // without a check, only the branches taken are recorded
	}
	if r.Correct {
		for i := range r.Routes {
			r.Routes[i].Checked = true
		}
		return 0
	}
	if Infrastructure(r.ErrorKind) {
		return 0 // a failure outside the plan says nothing about its branches
	}
	calls := 0
	for i := range r.Routes {
		ir := &r.Routes[i]
		var tn *trace.Node
		for _, n := range tr.Nodes {
			if n != nil && n.ID == ir.Router && n.Route != nil {
				tn = n
			}
		}
		checked := 0
		complete := true
		for _, b := range rc.Branches[ir.Router] {
			if b == ir.Branch {
				continue
			}
			if checked == MaxRouteChecks {
				complete = false
				break
			}
			if ctx.Err() != nil {
				return calls
			}
			res, err := rc.Run(ctx, it.Inputs, map[string]string{ir.Router: b})
			if res != nil && res.Trace != nil {
				calls += res.Trace.Calls
			}
			if err != nil && Infrastructure(KindOf(err)) {
				complete = false
				continue
			}
			checked++
			tn.Route.Checked = append(tn.Route.Checked, b)
			if err == nil && m.Score(res.Output, it.Label) {
				ir.Right = append(ir.Right, b)
			}
		}
		ir.Misrouted = len(ir.Right) > 0
		// Known either way when some other branch was right or every other was tried.
		ir.Checked = ir.Misrouted || complete
		tn.Route.Right, tn.Route.Misrouted = ir.Right, ir.Misrouted
		r.Misrouted = r.Misrouted || ir.Misrouted
	}
	return calls
}

// RouterReport is the routing of one top-level router over an evaluation.
type RouterReport struct {
	Router string `json:"router"`
	// Routed counts the items the router decided; Checked those whose routing is known (see
	// ItemRoute); Misrouted those sent to a wrong branch while another was right.
	Routed    int `json:"routed"`
	Checked   int `json:"checked"`
	Misrouted int `json:"misrouted"`
	// Accuracy is 1 - Misrouted/Checked (1 when nothing was checked): an item no branch gets
	// right counts as rightly routed.
	Accuracy float64        `json:"accuracy"`
	Branches []BranchReport `json:"branches"`
}

// BranchReport is what one branch received.
type BranchReport struct {
	Branch    string `json:"branch"`
	Routed    int    `json:"routed"`
	Correct   int    `json:"correct"`
	Defaulted int    `json:"defaulted,omitempty"`
	// Misrouted counts items sent here that another branch got right.
	Misrouted int `json:"misrouted"`
}

// summarizeRoutes aggregates the items' routes per router and branch (routers and branches in
// order of name).
func summarizeRoutes(results []ItemResult) []RouterReport {
	type acc struct {
		rep      RouterReport
		branches map[string]*BranchReport
	}
	byRouter := map[string]*acc{}
	for _, r := range results {
		for _, ir := range r.Routes {
			a := byRouter[ir.Router]
			if a == nil {
				a = &acc{rep: RouterReport{Router: ir.Router}, branches: map[string]*BranchReport{}}
				byRouter[ir.Router] = a
			}
			b := a.branches[ir.Branch]
			if b == nil {
				b = &BranchReport{Branch: ir.Branch}
				a.branches[ir.Branch] = b
			}
			a.rep.Routed++
			b.Routed++
			if r.Correct {
				b.Correct++
			}
			if ir.Defaulted {
				b.Defaulted++
			}
			if ir.Checked {
				a.rep.Checked++
			}
			if ir.Misrouted {
				a.rep.Misrouted++
				b.Misrouted++
			}
		}
	}
	names := make([]string, 0, len(byRouter))
	for n := range byRouter {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []RouterReport
	for _, n := range names {
		a := byRouter[n]
		a.rep.Accuracy = 1
		if a.rep.Checked > 0 {
			a.rep.Accuracy = 1 - float64(a.rep.Misrouted)/float64(a.rep.Checked)
		}
		bs := make([]string, 0, len(a.branches))
		for b := range a.branches {
			bs = append(bs, b)
		}
		sort.Strings(bs)
		for _, b := range bs {
			a.rep.Branches = append(a.rep.Branches, *a.branches[b])
		}
		out = append(out, a.rep)
	}
	return out
}

// printRouters writes the routing lines of `sgde eval`; answers is the split of the student
// answers behind them (recorded or simulated), printed with every accuracy.
func printRouters(w io.Writer, rs []RouterReport, answers trace.Sources) {
	for _, r := range rs {
		if r.Checked == 0 {
			fmt.Fprintf(w, "router %-12s %d routed (routing not checked)\n", r.Router, r.Routed)
		} else {
			fmt.Fprintf(w, "router %-12s accuracy %.1f%% (%d misrouted of %d checked, %d routed: misrouted = the branch taken was wrong, another was right); %s\n",
				r.Router, 100*r.Accuracy, r.Misrouted, r.Checked, r.Routed, answers)
		}
		for _, b := range r.Branches {
			fmt.Fprintf(w, "  branch %-12s %d items, %d right, %d misrouted", b.Branch, b.Routed, b.Correct, b.Misrouted)
			if b.Defaulted > 0 {
				fmt.Fprintf(w, ", %d by default", b.Defaulted)
			}
			fmt.Fprintln(w)
		}
	}
}
