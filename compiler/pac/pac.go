package pac

import (
	"errors"
	"fmt"
	"math"

	"github.com/sgde-project/sgde/plans"
)

// ErrInvalidArgument is wrapped by every error Bound returns for out-of-range parameters.
var ErrInvalidArgument = errors.New("invalid argument")

// Bound returns the smallest integer m with m >= (k ln 3 + ln(1/delta)) / epsilon: the number of
// training items after which, with probability at least 1-delta, a plan from a class of 3^k
// candidates that is consistent with them has true risk at most epsilon (the realisable
// Occam bound for a finite class).
//
// k must be at least 1, and epsilon and delta must lie strictly between 0 and 1.
func Bound(k int, epsilon, delta float64) (int, error) {
	switch {
	case k < 1:
		return 0, fmt.Errorf("k must be at least 1, got %d: %w", k, ErrInvalidArgument)
	case !(epsilon > 0 && epsilon < 1):
		return 0, fmt.Errorf("epsilon must lie strictly between 0 and 1, got %v: %w", epsilon, ErrInvalidArgument)
	case !(delta > 0 && delta < 1):
		return 0, fmt.Errorf("delta must lie strictly between 0 and 1, got %v: %w", delta, ErrInvalidArgument)
	}
	if m := plans.PACSamples(k, epsilon, delta); m > math.MaxInt32 {
		return 0, fmt.Errorf("bound %.3g exceeds %d items: %w", m, math.MaxInt32, ErrInvalidArgument)
	}
	return plans.PACBound(k, epsilon, delta), nil
}

// K returns the number of subtask types of a plan: its decision points, each of which the
// compiler may place on any of the three substrates. A decision point is a node that is not a
// member of a consensus node; a consensus node is one decision point however many members it
// replicates, because the members are one subtask sampled N times. A plan with no nodes has
// k = 1 (the single subtask of mapping inputs to the output) so that the bound stays defined.
func K(p *plans.Plan) int {
	if p == nil {
		return 1
	}
	member := map[string]bool{}
	for _, n := range p.Nodes {
		if n.Consensus != nil {
			for _, m := range n.Consensus.Members {
				member[m] = true
			}
		}
	}
	k := 0
	for _, n := range p.Nodes {
		switch {
		case member[n.ID]:
		case n.Substrate == plans.SubstrateRouter && n.Router != nil:
			// A router is no substrate choice of its own (its classifier is a node, counted
			// already): the routed plan's class is the product of its branches' classes.
			for _, b := range n.Router.Branches {
				if sub := b.SubPlan(); sub != nil {
					k += K(sub)
				}
			}
		default:
			k++
		}
	}
	if k == 0 {
		k = 1
	}
	return k
}

// Report is the PAC section of a compile report.
type Report struct {
	K         int     `json:"k"`
	Epsilon   float64 `json:"epsilon"`
	Delta     float64 `json:"delta"`
	M         int     `json:"m"`
	TrainN    int     `json:"train_n"`
	Satisfied bool    `json:"satisfied"`
}

// ForPlan computes the bound for p and says whether trainN training items meet it.
func ForPlan(p *plans.Plan, epsilon, delta float64, trainN int) (Report, error) {
	k := K(p)
	m, err := Bound(k, epsilon, delta)
	if err != nil {
		return Report{}, err
	}
	return Report{K: k, Epsilon: epsilon, Delta: delta, M: m, TrainN: trainN, Satisfied: trainN >= m}, nil
}

// BranchBound is the bound of one branch of a router, over the training items routed to it.
type BranchBound struct {
	Router string `json:"router"`
	Branch string `json:"branch"`
	K      int    `json:"k"`
	// Delta is the branch's share of the failure probability (delta / (r + 1)).
	Delta     float64 `json:"delta"`
	M         int     `json:"m"`
	TrainN    int     `json:"train_n"`
	Satisfied bool    `json:"satisfied"`
}

// RouterBound bounds a router's misrouting rate from its held-out accuracy.
type RouterBound struct {
	Router string `json:"router"`
	// HeldoutN items were routed; Misrouted of them went to another branch than the one whose
	// partition they belong to.
	HeldoutN  int     `json:"heldout_n"`
	Misrouted int     `json:"misrouted"`
	Delta     float64 `json:"delta"`
	// Upper bounds the true misrouting rate with probability at least 1-Delta.
	Upper float64 `json:"upper"`
}

// Routed is the PAC section for a plan with routers. Whole is the bound for the routed plan as
// one hypothesis from its product class (k = the branches' k summed, plus the nodes outside
// routers): it needs only the usual assumption, a plan consistent with all training items.
// Branches bound each branch on its own items: tighter per item, but each assumes the router
// was fixed before the branch was compiled (so a branch's items are an i.i.d. sample of its
// partition) and the failure probability is split over the r branches and the router by a union
// bound. Router bounds misrouting from held-out items (Hoeffding, no realisability), so the
// routed plan's risk is at most epsilon plus Router.Upper with probability 1-delta overall.
type Routed struct {
	Whole    Report        `json:"whole"`
	Branches []BranchBound `json:"branches"`
	Router   []RouterBound `json:"router,omitempty"`
}

// ForRouted computes Routed for p. trainN[router][branch] is the number of training items routed
// to each branch; heldout[router] is [n, misrouted] of the router's held-out check (absent:
// not measured). The failure probability delta is split evenly over the branches and routers.
func ForRouted(p *plans.Plan, epsilon, delta float64, trainN map[string]map[string]int, heldout map[string][2]int) (Routed, error) {
	total := 0
	for _, by := range trainN {
		for _, n := range by {
			total += n
		}
	}
	whole, err := ForPlan(p, epsilon, delta, total)
	if err != nil {
		return Routed{}, err
	}
	out := Routed{Whole: whole}
	parts := 0
	for _, r := range p.Routers() {
		parts += len(r.Router.Branches) + 1
	}
	if parts == 0 {
		return out, nil
	}
	share := delta / float64(parts)
	for _, r := range p.Routers() {
		for _, b := range r.Router.Branches {
			k := K(b.SubPlan())
			m, err := Bound(k, epsilon, share)
			if err != nil {
				return Routed{}, fmt.Errorf("router %q branch %q: %w", r.ID, b.Name, err)
			}
			n := trainN[r.ID][b.Name]
			out.Branches = append(out.Branches, BranchBound{Router: r.ID, Branch: b.Name, K: k, Delta: share, M: m, TrainN: n, Satisfied: n >= m})
		}
		if h, ok := heldout[r.ID]; ok && h[0] > 0 {
			out.Router = append(out.Router, RouterBound{Router: r.ID, HeldoutN: h[0], Misrouted: h[1], Delta: share,
				Upper: MisrouteUpper(h[1], h[0], share)})
		}
	}
	return out, nil
}

// MisrouteUpper is the one-sided Hoeffding upper bound on a rate observed as errors out of n:
// errors/n + sqrt(ln(1/delta) / (2n)), capped at 1. It assumes only that the n items are an
// i.i.d. sample the router did not see while it was chosen.
func MisrouteUpper(errors, n int, delta float64) float64 {
	if n <= 0 {
		return 1
	}
	return math.Min(1, float64(errors)/float64(n)+math.Sqrt(math.Log(1/delta)/(2*float64(n))))
}
