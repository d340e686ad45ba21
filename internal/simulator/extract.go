package simulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Extraction requests ("list every item ... as one JSON object", "extract the quantities as
// JSON"). The recordings answer the question, not this sub-task, so extraction is simulated, and
// only where the knowledge says what the question states: the literal assignments of an item's
// reference program (`lamps = 4`) are its stated quantities, named as the program names them.
// The error model is the program's, deliberately not a new one: the same error rate for the
// item (programError, by statements) and the same shared fraction, and a wrong extraction is one
// of the program corruptions that can show in stated facts, a wrong value (a near miss, as a
// wrong operand) or, in one case of three when there are two or more, a fact left out (as a
// dropped line). Items without such a program are answered as direct questions.

// fact is one stated quantity: a name and its literal.
type fact struct {
	name string
	lit  string
}

var factLineRE = regexp.MustCompile(`^\s+([A-Za-z_][A-Za-z0-9_]*)\s*=\s*([0-9][0-9_]*(?:\.[0-9]+)?)\s*$`)

// statedFacts are the literal assignments of a reference program, in order.
func statedFacts(program string) []fact {
	var out []fact
	for _, l := range strings.Split(program, "\n") {
		if m := factLineRE.FindStringSubmatch(l); m != nil {
			out = append(out, fact{m[1], strings.ReplaceAll(m[2], "_", "")})
		}
	}
	return out
}

// factsJSON writes the facts as one JSON object, in order.
func factsJSON(fs []fact) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, f := range fs {
		if i > 0 {
			b.WriteString(", ")
		}
		k, _ := json.Marshal(f.name)
		b.Write(k)
		b.WriteString(": ")
		b.WriteString(f.lit)
	}
	b.WriteByte('}')
	return b.String()
}

// corruptFacts changes one fact's value or leaves one out.
func corruptFacts(r *rand.Rand, fs []fact) []fact {
	out := append([]fact(nil), fs...)
	i := r.IntN(len(out))
	if len(out) >= 2 && r.IntN(3) == 0 {
		return append(out[:i], out[i+1:]...)
	}
	v, _ := strconv.ParseFloat(out[i].lit, 64)
	kinds := []string{"digit_slip", "arithmetic_slip", "magnitude"}
	isFloat := strings.Contains(out[i].lit, ".")
	rep := formatLiteral(nearMiss(r, v, kinds[r.IntN(len(kinds))], nil), isFloat)
	if rep == out[i].lit {
		rep = formatLiteral(v+1, isFloat)
	}
	out[i].lit = rep
	return out
}

// demoteExtract turns an extraction request the simulator cannot model into a direct one.
func demoteExtract(t taskKind) taskKind {
	if t == taskExtract {
		return taskDirect
	}
	return t
}

// Reference extractions. A knowledge record may carry `extraction`, the JSON object a correct
// answer to an extraction request states (testdata/bbh/extractions, generated offline by a
// shipped script and checked against the labels). What the object holds is the dataset's
// business: the simulator reads no field name of it. It then wins over the facts of a reference
// program. The error model is still the program one: the item's error rate is programError of
// as many statements as a reference program that states each of the extraction's values on a
// line and returns a computation of them (values + 1), with the program shared fraction, and a
// wrong extraction is one value changed by a near miss (a number, or one number written inside
// a string such as a date) or, in one case of three when there are two or more values, one
// value left out.

// parseExtraction reads a reference extraction: a JSON object, returned in canonical form (keys
// sorted, numbers as written) with its count of values.
func parseExtraction(raw json.RawMessage) (string, int, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return "", 0, err
	}
	if _, ok := v.(map[string]any); !ok {
		return "", 0, errors.New("extraction must be a JSON object")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", 0, err
	}
	return string(b), len(leaves(v, nil)), nil
}

// leafPath is where a value sits in a decoded extraction: object keys (string) and list
// indices (int).
type leafPath []any

// leaves lists the paths of every value of v that is not an object or a list, in a fixed order
// (object keys sorted).
func leaves(v any, at leafPath) []leafPath {
	switch c := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(c))
		for k := range c {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var out []leafPath
		for _, k := range keys {
			out = append(out, leaves(c[k], append(slices.Clone(at), k))...)
		}
		return out
	case []any:
		var out []leafPath
		for i, x := range c {
			out = append(out, leaves(x, append(slices.Clone(at), i))...)
		}
		return out
	}
	return []leafPath{at}
}

// updateAt returns v with the value at path replaced by f's result, or removed when f returns
// false; a container left empty by a removal is removed too.
func updateAt(v any, path leafPath, f func(any) (any, bool)) (any, bool) {
	if len(path) == 0 {
		return f(v)
	}
	switch c := v.(type) {
	case map[string]any:
		k := path[0].(string)
		out := maps.Clone(c)
		if nv, keep := updateAt(c[k], path[1:], f); keep {
			out[k] = nv
		} else {
			delete(out, k)
		}
		return out, len(out) > 0
	case []any:
		i := path[0].(int)
		out := slices.Clone(c)
		if nv, keep := updateAt(c[i], path[1:], f); keep {
			out[i] = nv
		} else {
			out = slices.Delete(out, i, i+1)
		}
		return out, len(out) > 0
	}
	return v, true
}

var digitRunRE = regexp.MustCompile(`[0-9]+`)

// slipValue changes a number, or one number written inside a string, by a near miss of the
// kinds a wrong fact has; ok is false for values with no number in them.
func slipValue(r *rand.Rand, v any) (any, bool) {
	kinds := []string{"digit_slip", "arithmetic_slip", "magnitude"}
	slip := func(x float64, integral bool) float64 {
		w := nearMiss(r, x, kinds[r.IntN(len(kinds))], nil)
		if integral {
			w = math.Round(w)
		}
		if w == x {
			w = x + 1
		}
		return w
	}
	switch c := v.(type) {
	case json.Number:
		x, err := c.Float64()
		if err != nil {
			return v, false
		}
		integral := !strings.ContainsAny(c.String(), ".eE")
		return json.Number(strconv.FormatFloat(slip(x, integral), 'f', -1, 64)), true
	case string:
		runs := digitRunRE.FindAllStringIndex(c, -1)
		if len(runs) == 0 {
			return v, false
		}
		at := runs[r.IntN(len(runs))]
		x, _ := strconv.ParseFloat(c[at[0]:at[1]], 64)
		y := math.Abs(slip(x, true)) // a number inside text has no sign of its own
		if y == x {
			y = x + 1
		}
		w := strconv.FormatFloat(y, 'f', 0, 64)
		if w == c[at[0]:at[1]] {
			w = "1" + w // beyond float precision, y is x again
		}
		for len(w) < at[1]-at[0] {
			w = "0" + w // keep the width: 07/29 stays two digits
		}
		return c[:at[0]] + w + c[at[1]:], true
	}
	return v, false
}

// hasNumber reports whether slipValue can change v.
func hasNumber(v any) bool {
	switch c := v.(type) {
	case json.Number:
		_, err := c.Float64()
		return err == nil
	case string:
		return digitRunRE.MatchString(c)
	}
	return false
}

// corruptExtraction changes one value of a reference extraction or leaves one out.
func corruptExtraction(r *rand.Rand, canonical string) string {
	d := json.NewDecoder(strings.NewReader(canonical))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return canonical
	}
	ls := leaves(v, nil)
	if len(ls) == 0 {
		return canonical
	}
	i := r.IntN(len(ls))
	drop := len(ls) >= 2 && r.IntN(3) == 0
	if !drop {
		// Only values with a number in them can be near misses; otherwise one is left out.
		var slippable []int
		for j, p := range ls {
			if hasNumber(valueAt(v, p)) {
				slippable = append(slippable, j)
			}
		}
		if len(slippable) == 0 {
			drop = true
		} else {
			i = slippable[r.IntN(len(slippable))]
		}
	}
	out, _ := updateAt(v, ls[i], func(x any) (any, bool) {
		if drop {
			return nil, false
		}
		return slipValue(r, x)
	})
	if out == nil {
		out = map[string]any{}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return canonical
	}
	return string(b)
}

// valueAt is the value at path.
func valueAt(v any, path leafPath) any {
	for _, k := range path {
		switch c := v.(type) {
		case map[string]any:
			v = c[k.(string)]
		case []any:
			v = c[k.(int)]
		}
	}
	return v
}
