package pac

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/sgde-project/sgde/plans"
)

// WriteText writes the bound as `sgde bound -k` prints it: m alone on the first line (scripts
// read it), then what it means.
func (r Report) WriteText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "%d\na plan with k=%d subtask types (3^%d candidate plans) that is right on %d training items has risk <= %g with probability >= %g\n",
		r.M, r.K, r.K, r.M, r.Epsilon, 1-r.Delta)
	return err
}

// ParseBranchItems reads ROUTER.BRANCH=N counts of training items routed to p's branches, in
// the shape ForRouted takes; a malformed count or a branch p does not have is an error.
func ParseBranchItems(p *plans.Plan, specs []string) (map[string]map[string]int, error) {
	trainN := map[string]map[string]int{}
	for _, spec := range specs {
		name, n, ok := strings.Cut(spec, "=")
		router, branch, ok2 := strings.Cut(name, ".")
		v, err := strconv.Atoi(n)
		if !ok || !ok2 || err != nil || v < 0 {
			return nil, fmt.Errorf("%q: want ROUTER.BRANCH=N", spec)
		}
		if r := p.Node(router); r == nil || r.Router == nil || r.Router.Branch(branch) == nil {
			return nil, fmt.Errorf("%q: the plan has no router %q with a branch %q", spec, router, branch)
		}
		if trainN[router] == nil {
			trainN[router] = map[string]int{}
		}
		trainN[router][branch] = v
	}
	return trainN, nil
}

// WriteText writes the bounds as `sgde bound --plan` prints them: the whole plan's m alone on
// the first line, then the whole plan's, each branch's and each router's bound. A branch with a
// count in given (ParseBranchItems) also says whether its items meet its bound.
func (r Routed) WriteText(w io.Writer, given map[string]map[string]int) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%d\n", r.Whole.M)
	fmt.Fprintf(&b, "whole plan: k=%d, m=%d (one hypothesis from 3^%d plans, consistent with every training item; delta %g)\n",
		r.Whole.K, r.Whole.M, r.Whole.K, r.Whole.Delta)
	for _, br := range r.Branches {
		have := ""
		if n, ok := given[br.Router][br.Branch]; ok {
			have = fmt.Sprintf("; %d items routed to it: %s", n, map[bool]string{true: "meet it", false: "do not meet it"}[br.Satisfied])
		}
		fmt.Fprintf(&b, "branch %s.%s: k=%d, m=%d (its own items, router fixed first; delta %.3g)%s\n", br.Router, br.Branch, br.K, br.M, br.Delta, have)
	}
	for _, rb := range r.Router {
		fmt.Fprintf(&b, "router %s: %d of %d held-out items misrouted; true misrouting rate <= %.4f (Hoeffding, delta %.3g)\n",
			rb.Router, rb.Misrouted, rb.HeldoutN, rb.Upper, rb.Delta)
	}
	if len(r.Branches) > 0 {
		fmt.Fprintf(&b, "routed plan: risk <= %g + the router's misrouting rate, with probability >= %g\n", r.Whole.Epsilon, 1-r.Whole.Delta)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
