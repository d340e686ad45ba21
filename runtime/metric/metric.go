package metric

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Metric decides whether a prediction matches a label.
type Metric interface {
	// Name is the metric's name as given on the command line.
	Name() string
	// Score reports whether prediction matches label.
	Score(prediction, label any) bool
}

// DefaultRelTol is the numeric metric's default relative tolerance: far above float64 rounding
// in a chain of arithmetic (~1e-15), far below the off-by-one slips it must catch on
// GSM-Hard's seven-digit answers (~1e-7).
const DefaultRelTol = 1e-9

// Numeric compares numbers exactly (as decimals, not floats) within a tolerance: the larger of
// RelTol times |label| and, when the label is written with four or more decimals, half a unit
// of its last decimal (GSM-Hard labels are the true answer rounded to ten decimals).
type Numeric struct {
	RelTol float64
}

// Name implements Metric.
func (Numeric) Name() string { return "numeric" }

// Score implements Metric. A prediction that is not a number never matches.
func (m Numeric) Score(prediction, label any) bool {
	l, decimals, ok := number(label)
	if !ok {
		return false
	}
	p, _, ok := number(prediction)
	if !ok {
		return false
	}
	diff := new(big.Rat).Sub(p, l)
	diff.Abs(diff)
	tol := new(big.Rat).Abs(l)
	rel := new(big.Rat)
	rel.SetFloat64(m.RelTol)
	tol.Mul(tol, rel)
	if decimals >= 4 {
		half := new(big.Rat).SetFrac(big.NewInt(1), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(decimals)), nil))
		half.Quo(half, big.NewRat(2, 1))
		if half.Cmp(tol) > 0 {
			tol = half
		}
	}
	return diff.Cmp(tol) <= 0
}

// Exact compares numbers as exact decimals and anything else as trimmed text.
type Exact struct{}

// Name implements Metric.
func (Exact) Name() string { return "exact" }

// Score implements Metric.
func (Exact) Score(prediction, label any) bool {
	if p, _, ok := strictNumber(prediction); ok {
		if l, _, ok := strictNumber(label); ok {
			return p.Cmp(l) == 0
		}
	}
	return strings.TrimSpace(text(prediction)) == strings.TrimSpace(text(label))
}

// Parse returns the metric called name ("numeric" or "exact").
func Parse(name string, relTol float64) (Metric, error) {
	switch name {
	case "numeric":
		if relTol < 0 || math.IsNaN(relTol) {
			return nil, fmt.Errorf("relative tolerance %v must be >= 0", relTol)
		}
		return Numeric{RelTol: relTol}, nil
	case "exact":
		return Exact{}, nil
	}
	return nil, fmt.Errorf("unknown metric %q (want numeric or exact)", name)
}

func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// number reads a number leniently: JSON numbers, and strings like "$1,234.50" or " 7 ".
// decimals is the count of digits after the point in its plain decimal writing ("5.158e-07"
// has 10).
func number(v any) (*big.Rat, int, bool) {
	if s, ok := v.(string); ok {
		s = strings.TrimSpace(s)
		s = strings.TrimPrefix(s, "$")
		s = strings.ReplaceAll(s, ",", "")
		return strictNumber(json.Number(s))
	}
	return strictNumber(v)
}

// maxLiteral bounds number literals: big.Rat would allocate without limit on "1e99999999".
const maxLiteral = 400

func strictNumber(v any) (*big.Rat, int, bool) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, 0, false
		}
		s = strconv.FormatFloat(x, 'g', -1, 64)
	case float32:
		s = strconv.FormatFloat(float64(x), 'g', -1, 32)
	case int:
		s = strconv.Itoa(x)
	case int64:
		s = strconv.FormatInt(x, 10)
	default:
		return nil, 0, false
	}
	if s == "" || len(s) > maxLiteral {
		return nil, 0, false
	}
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || e > maxLiteral || e < -maxLiteral {
			return nil, 0, false
		}
		mant, exp = s[:i], e
	}
	for _, c := range mant {
		if !strings.ContainsRune("0123456789+-.", c) {
			return nil, 0, false
		}
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, 0, false
	}
	decimals := 0
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		decimals = len(mant) - i - 1
	}
	decimals = max(decimals-exp, 0)
	return r, decimals, true
}

// Wilson returns the Wilson score interval for k successes in n trials at confidence z
// (1.96 for 95%). It stays inside [0, 1] and is sensible at 0 and n, unlike the normal
// approximation.
func Wilson(k, n int, z float64) (lo, hi float64) {
	if n == 0 {
		return 0, 1
	}
	p := float64(k) / float64(n)
	nf := float64(n)
	den := 1 + z*z/nf
	center := (p + z*z/(2*nf)) / den
	half := z / den * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf))
	return math.Max(0, center-half), math.Min(1, center+half)
}
