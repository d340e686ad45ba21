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
)

// checkInputs type-checks the caller's inputs against the plan's declarations. Every problem
// is reported, not just the first, and each names its input.
func checkInputs(decl []plans.Input, in map[string]any) error {
	var problems []string
	declared := make(map[string]bool, len(decl))
	for _, d := range decl {
		declared[d.Name] = true
		v, ok := in[d.Name]
		if !ok {
			problems = append(problems, fmt.Sprintf("missing input %q (%s)", d.Name, d.Type))
			continue
		}
		if err := checkType(d.Type, v); err != nil {
			problems = append(problems, fmt.Sprintf("input %q: %v", d.Name, err))
		}
	}
	var extra []string
	for name := range in {
		if !declared[name] {
			extra = append(extra, name)
		}
	}
	sort.Strings(extra)
	for _, name := range extra {
		problems = append(problems, fmt.Sprintf("unknown input %q (the plan declares %s)", name, declNames(decl)))
	}
	if len(problems) == 0 {
		return nil
	}
	return nodeErr("", KindInput, errors.New(strings.Join(problems, "; ")))
}

func declNames(decl []plans.Input) string {
	if len(decl) == 0 {
		return "no inputs"
	}
	names := make([]string, len(decl))
	for i, d := range decl {
		names[i] = d.Name
	}
	return strings.Join(names, ", ")
}

// checkType reports whether v (a JSON-decoded value) has type t.
func checkType(t plans.Type, v any) error {
	switch t {
	case plans.TypeAny, "":
		return nil
	case plans.TypeString:
		if _, ok := v.(string); ok {
			return nil
		}
	case plans.TypeNumber:
		if _, ok := toRat(v); ok {
			return nil
		}
	case plans.TypeInteger:
		if r, ok := toRat(v); ok {
			if r.IsInt() {
				return nil
			}
			return fmt.Errorf("want integer, got %s", describe(v))
		}
	case plans.TypeBoolean:
		if _, ok := v.(bool); ok {
			return nil
		}
	case plans.TypeObject:
		if _, ok := v.(map[string]any); ok {
			return nil
		}
	case plans.TypeArray:
		if _, ok := v.([]any); ok {
			return nil
		}
	default:
		return fmt.Errorf("unknown type %q", t)
	}
	return fmt.Errorf("want %s, got %s", t, describe(v))
}

func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		if len(x) > 40 {
			x = x[:40] + "…"
		}
		return fmt.Sprintf("string %q", x)
	case bool:
		return "boolean"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case json.Number:
		return "number " + x.String()
	}
	if _, ok := toRat(v); ok {
		return fmt.Sprintf("number %v", v)
	}
	return fmt.Sprintf("%T", v)
}

// toRat converts a JSON number (json.Number, any Go numeric type) to an exact rational. Strings
// are not numbers here: a quoted "42" is text.
func toRat(v any) (*big.Rat, bool) {
	switch x := v.(type) {
	case json.Number:
		return ratFromString(x.String())
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, false
		}
		return new(big.Rat).SetFloat64(x), true
	case float32:
		return toRat(float64(x))
	case int:
		return new(big.Rat).SetInt64(int64(x)), true
	case int64:
		return new(big.Rat).SetInt64(x), true
	case int32:
		return new(big.Rat).SetInt64(int64(x)), true
	case uint64:
		return new(big.Rat).SetInt(new(big.Int).SetUint64(x)), true
	case uint32:
		return new(big.Rat).SetInt64(int64(x)), true
	}
	return nil, false
}

// maxNumberLen bounds the decimal literals turned into rationals: big.Rat.SetString on
// "1e99999999" would allocate without limit.
const maxNumberLen = 400

func ratFromString(s string) (*big.Rat, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > maxNumberLen {
		return nil, false
	}
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		var exp int
		if _, err := fmt.Sscanf(s[i+1:], "%d", &exp); err != nil || exp > 400 || exp < -400 {
			return nil, false
		}
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789+-.eE/", c) {
			return nil, false // rejects "Inf", "NaN", hex and fractions
		}
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}

// formatRat prints r as a plain decimal when it has a finite one of reasonable length, else as
// a fraction.
func formatRat(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	// A finite decimal exists iff the reduced denominator has no prime factors but 2 and 5.
	d := new(big.Int).Set(r.Denom())
	digits := 0
	for _, p := range []int64{2, 5} {
		bp := big.NewInt(p)
		m := new(big.Int)
		for {
			q, rem := new(big.Int).QuoRem(d, bp, m)
			if rem.Sign() != 0 {
				break
			}
			d = q
			digits++
		}
	}
	if d.Cmp(big.NewInt(1)) == 0 && digits <= 60 {
		s := r.FloatString(digits)
		if strings.Contains(s, ".") {
			s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
		}
		return s
	}
	return r.RatString()
}

// field returns v.FIELD for an object value.
func field(v any, name string) (any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("value is %s, not an object with field %q", describe(v), name)
	}
	f, ok := m[name]
	if !ok {
		return nil, fmt.Errorf("value has no field %q", name)
	}
	return f, nil
}
