// Command tally is a code node that adds up the counts a student extracted from a question: the
// code half of a split where language picks which quantities count and code does the sum.
//
// Input {"counts": V} where V is a JSON object whose values are counts ({"apple": 2, "pear": 1})
// or a list of counts ([2, 1]); output {"answer": <integer>}. A count is a non-negative integer
// written as a JSON number or as a string of decimal digits (students quote numbers now and
// then). Anything else (a nested value, a fraction, a negative count, a word) is refused with an
// error rather than guessed at, so a malformed extraction fails visibly in the trace instead of
// becoming a plausible wrong sum.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/sgde-project/sgde/wasm/guest"
)

// Limits: an extraction is a handful of items; anything far larger is not one.
const (
	maxItems = 1000
	maxCount = 1_000_000
)

func main() { guest.Run(solve) }

func solve(in map[string]any) (map[string]any, error) {
	v, ok := in["counts"]
	if !ok {
		return nil, errors.New(`input needs a field "counts"`)
	}
	n, err := tally(v)
	if err != nil {
		return nil, err
	}
	return map[string]any{"answer": n}, nil
}

// tally sums the counts of an object or a list, refusing anything that is not a flat collection
// of non-negative integers.
func tally(v any) (int64, error) {
	var items []any
	switch c := v.(type) {
	case map[string]any:
		for _, x := range c {
			items = append(items, x)
		}
	case []any:
		items = c
	default:
		return 0, fmt.Errorf("counts must be an object or a list, got %T", v)
	}
	if len(items) > maxItems {
		return 0, fmt.Errorf("counts has %d entries, at most %d", len(items), maxItems)
	}
	var sum int64
	for _, x := range items {
		n, err := count(x)
		if err != nil {
			return 0, err
		}
		sum += n
	}
	return sum, nil
}

func count(x any) (int64, error) {
	var s string
	switch c := x.(type) {
	case json.Number:
		s = c.String()
	case float64: // what a decoder without UseNumber gives; never from the guest SDK
		s = strconv.FormatFloat(c, 'f', -1, 64)
	case string:
		s = strings.TrimSpace(c)
	default:
		return 0, fmt.Errorf("count %v is not a number", x)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		// 3.0 is a count; 2.5 is not.
		if f, ferr := strconv.ParseFloat(s, 64); ferr == nil && f == float64(int64(f)) && f >= 0 && f <= maxCount {
			return int64(f), nil
		}
		return 0, fmt.Errorf("count %q is not a whole number", s)
	}
	if n < 0 || n > maxCount {
		return 0, fmt.Errorf("count %d is out of range 0..%d", n, maxCount)
	}
	return n, nil
}
