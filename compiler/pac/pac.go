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
		if !member[n.ID] {
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
