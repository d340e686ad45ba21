package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strings"

	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime/trace"
)

// Normalisation modes of plans.Vote.Normalize.
const (
	normNumber = "number"
	normText   = "text"
	normExact  = "exact"
)

// normalize maps a value to the key votes compare. The empty mode compares numbers
// numerically and everything else exactly.
func normalize(v any, mode string, precision int) (string, error) {
	switch mode {
	case "":
		if r, ok := toRat(v); ok {
			return roundRat(r, precision), nil
		}
		return canonicalJSON(v)
	case normNumber:
		r, ok := toRat(v)
		if !ok {
			if s, isStr := v.(string); isStr {
				r, ok = ratFromString(strings.ReplaceAll(s, ",", ""))
			}
		}
		if !ok {
			return "", fmt.Errorf("cannot vote numerically on %s", describe(v))
		}
		return roundRat(r, precision), nil
	case normText:
		s, err := plans.FormatValue(v)
		if err != nil {
			return "", err
		}
		return strings.ToLower(strings.Join(strings.Fields(s), " ")), nil
	case normExact:
		return canonicalJSON(v)
	}
	return "", fmt.Errorf("unknown normalisation %q", mode)
}

// roundRat formats r rounded to precision significant decimal digits, halves away from zero
// (0: exact). The rounding is done in exact decimal arithmetic: 2.345 to 3 digits is 2.35.
func roundRat(r *big.Rat, precision int) string {
	if precision <= 0 || r.Sign() == 0 {
		return formatRat(r)
	}
	a := new(big.Rat).Abs(r)
	// e is the decimal exponent of a: 10^e <= a < 10^(e+1).
	f, _ := new(big.Float).SetRat(a).Float64()
	e := int(math.Floor(math.Log10(f)))
	if math.IsInf(f, 0) || math.IsNaN(f) || f == 0 {
		e = len(a.Num().String()) - len(a.Denom().String())
	}
	for pow10(e).Cmp(a) > 0 {
		e--
	}
	for pow10(e+1).Cmp(a) <= 0 {
		e++
	}
	scale := pow10(precision - 1 - e)
	scaled := new(big.Rat).Mul(a, scale)
	q, m := new(big.Int).QuoRem(scaled.Num(), scaled.Denom(), new(big.Int))
	if new(big.Int).Lsh(m, 1).Cmp(scaled.Denom()) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	out := new(big.Rat).Quo(new(big.Rat).SetInt(q), scale)
	if r.Sign() < 0 {
		out.Neg(out)
	}
	return formatRat(out)
}

// pow10 returns 10^e as a rational (e may be negative).
func pow10(e int) *big.Rat {
	p := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(e))), nil)
	if e < 0 {
		return new(big.Rat).SetFrac(big.NewInt(1), p)
	}
	return new(big.Rat).SetInt(p)
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func canonicalJSON(v any) (string, error) {
	b, err := json.Marshal(v) // maps marshal with sorted keys
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// ballot is one consensus sample's contribution.
type ballot struct {
	value any
	key   string
	ok    bool
	err   error
}

var errNoValue = errors.New("no sample produced a value")

// vote applies v to the ballots (in sample order; failed samples have ok false) and returns the
// index of the winning ballot and the vote distribution. n is the number of samples taken, which
// majority voting counts against.
func vote(v plans.Vote, ballots []ballot) (int, []trace.Vote, error) {
	type tally struct {
		key   string
		count int
		first int
	}
	var tallies []*tally
	byKey := map[string]*tally{}
	valid := 0
	for i, b := range ballots {
		if !b.ok {
			continue
		}
		valid++
		t := byKey[b.key]
		if t == nil {
			t = &tally{key: b.key, first: i}
			byKey[b.key] = t
			tallies = append(tallies, t)
		}
		t.count++
	}
	sort.SliceStable(tallies, func(i, j int) bool { return tallies[i].count > tallies[j].count })
	dist := make([]trace.Vote, len(tallies))
	for i, t := range tallies {
		dist[i] = trace.Vote{Key: t.key, Count: t.count}
	}
	if valid == 0 {
		return -1, dist, errNoValue
	}
	switch v.Method {
	case plans.VoteFirstValid:
		for i, b := range ballots {
			if b.ok {
				return i, dist, nil
			}
		}
	case plans.VoteMajority:
		if top := tallies[0]; 2*top.count > len(ballots) {
			return top.first, dist, nil
		}
		return -1, dist, fmt.Errorf("no majority: top value %q has %d of %d votes", tallies[0].key, tallies[0].count, len(ballots))
	case plans.VotePlurality, "":
		best := tallies[0]
		for _, t := range tallies[1:] {
			if t.count < best.count {
				break
			}
			switch v.TieBreak {
			case plans.TieSmallest:
				if compareKeys(t.key, best.key) < 0 {
					best = t
				}
			case plans.TieLargest:
				if compareKeys(t.key, best.key) > 0 {
					best = t
				}
			default: // first: tallies are already in order of first appearance among equals
			}
		}
		return best.first, dist, nil
	case plans.VoteMedian:
		type num struct {
			r   *big.Rat
			idx int
		}
		var nums []num
		for i, b := range ballots {
			if !b.ok {
				continue
			}
			r, ok := ratFromString(b.key)
			if !ok {
				r, ok = toRat(b.value)
			}
			if !ok {
				return -1, dist, fmt.Errorf("median needs numbers, sample %d is %s", i, describe(b.value))
			}
			nums = append(nums, num{r, i})
		}
		sort.SliceStable(nums, func(i, j int) bool { return nums[i].r.Cmp(nums[j].r) < 0 })
		return nums[(len(nums)-1)/2].idx, dist, nil
	}
	return -1, dist, fmt.Errorf("unknown vote method %q", v.Method)
}

// compareKeys orders keys numerically when both are numbers, else bytewise.
func compareKeys(a, b string) int {
	ra, okA := ratFromString(a)
	rb, okB := ratFromString(b)
	if okA && okB {
		return ra.Cmp(rb)
	}
	return strings.Compare(a, b)
}
