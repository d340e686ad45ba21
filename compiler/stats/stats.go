package stats

import (
	"fmt"
	"math"
)

// Paired counts the four cells of a paired comparison of two classifiers on the same items.
type Paired struct {
	// BothRight and BothWrong are the concordant pairs.
	BothRight, BothWrong int
	// OnlyA counts items A got right and B got wrong; OnlyB the reverse.
	OnlyA, OnlyB int
}

// Pair tallies paired outcomes; a[i] and b[i] say whether A and B were right on item i.
func Pair(a, b []bool) (Paired, error) {
	if len(a) != len(b) {
		return Paired{}, fmt.Errorf("paired outcomes differ in length: %d and %d", len(a), len(b))
	}
	var p Paired
	for i := range a {
		switch {
		case a[i] && b[i]:
			p.BothRight++
		case !a[i] && !b[i]:
			p.BothWrong++
		case a[i]:
			p.OnlyA++
		default:
			p.OnlyB++
		}
	}
	return p, nil
}

// McNemarExact returns the two-sided p-value of the exact McNemar test for b and c discordant
// pairs: twice the lower tail of Binomial(b+c, 1/2) at min(b, c), capped at 1. With no discordant
// pair there is no evidence of a difference and the p-value is 1. Terms are summed in log space so
// that thousands of pairs neither overflow nor underflow.
func McNemarExact(b, c int) float64 {
	if b < 0 || c < 0 {
		return math.NaN()
	}
	n := b + c
	if n == 0 {
		return 1
	}
	lo := min(b, c)
	// log P(X = i) = lgamma(n+1) - lgamma(i+1) - lgamma(n-i+1) - n ln 2
	lnf := func(x int) float64 { v, _ := math.Lgamma(float64(x) + 1); return v }
	base := lnf(n) - float64(n)*math.Ln2
	terms := make([]float64, 0, lo+1)
	maxT := math.Inf(-1)
	for i := 0; i <= lo; i++ {
		t := base - lnf(i) - lnf(n-i)
		terms = append(terms, t)
		maxT = math.Max(maxT, t)
	}
	sum := 0.0
	for _, t := range terms {
		sum += math.Exp(t - maxT)
	}
	p := 2 * math.Exp(maxT) * sum
	return math.Min(1, p)
}
