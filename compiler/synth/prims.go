package synth

// The primitives of the synthesis language. Each is a plain Go function: the search runs it
// on the host to check candidate programs against the examples, and the emitted code node
// carries the same function's source (this file is embedded and its declarations copied), so
// what was checked is what runs in the sandbox. Only packages a code node may import are used.

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// afterLit returns the text after the first occurrence of lit.
func afterLit(s, lit string) (string, error) {
	_, after, ok := strings.Cut(s, lit)
	if !ok {
		return "", fmt.Errorf("no %q in the input", lit)
	}
	return strings.TrimSpace(after), nil
}

// beforeLast returns the text before the last occurrence of lit.
func beforeLast(s, lit string) (string, error) {
	i := strings.LastIndex(s, lit)
	if i < 0 {
		return "", fmt.Errorf("no %q in the input", lit)
	}
	return strings.TrimSpace(s[:i]), nil
}

// trimSpace removes leading and trailing white space.
func trimSpace(s string) (string, error) { return strings.TrimSpace(s), nil }

// lower lower-cases the text.
func lower(s string) (string, error) { return strings.ToLower(s), nil }

// digitsOf keeps only the decimal digits.
func digitsOf(s string) (string, error) {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "", errors.New("no digits in the input")
	}
	return b.String(), nil
}

// fillDigits writes the last digits of s into the D slots of tmpl, right-aligned; the other
// characters of tmpl are copied. s must have at least as many digits as tmpl has slots.
func fillDigits(s, tmpl string) (string, error) {
	slots := strings.Count(tmpl, "D")
	if len(s) < slots {
		return "", fmt.Errorf("%d digits, the format needs %d", len(s), slots)
	}
	d := s[len(s)-slots:]
	var b strings.Builder
	for _, r := range tmpl {
		if r == 'D' {
			b.WriteByte(d[0])
			d = d[1:]
		} else {
			b.WriteRune(r)
		}
	}
	return b.String(), nil
}

// words splits the text on white space.
func words(s string) ([]string, error) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return nil, errors.New("no words in the input")
	}
	return f, nil
}

// splitOn splits the text on sep and trims each part.
func splitOn(s, sep string) ([]string, error) {
	parts := strings.Split(s, sep)
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts, nil
}

// sortAsc sorts the items in byte order.
func sortAsc(xs []string) ([]string, error) {
	out := append([]string(nil), xs...)
	sort.Strings(out)
	return out, nil
}

// reverse reverses the items.
func reverse(xs []string) ([]string, error) {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[len(xs)-1-i] = x
	}
	return out, nil
}

// joinWith joins the items with sep.
func joinWith(xs []string, sep string) (string, error) { return strings.Join(xs, sep), nil }

// firstItem returns the first item.
func firstItem(xs []string) (string, error) {
	if len(xs) == 0 {
		return "", errors.New("no items")
	}
	return xs[0], nil
}

// lastItem returns the last item.
func lastItem(xs []string) (string, error) {
	if len(xs) == 0 {
		return "", errors.New("no items")
	}
	return xs[len(xs)-1], nil
}

// countItems counts the items.
func countItems(xs []string) (float64, error) { return float64(len(xs)), nil }

// firstNumber reads the first number in the text; thousands separators (a comma followed by
// three digits) are dropped.
func firstNumber(s string) (float64, error) {
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		if !unicode.IsDigit(rs[i]) {
			continue
		}
		j := i
		var b strings.Builder
		if i > 0 && rs[i-1] == '-' {
			b.WriteRune('-')
		}
		for j < len(rs) {
			switch {
			case unicode.IsDigit(rs[j]):
				b.WriteRune(rs[j])
			case rs[j] == ',' && j+3 < len(rs) && allDigits(rs[j+1:j+4]) && (j+4 >= len(rs) || !unicode.IsDigit(rs[j+4])):
				// thousands separator
			case rs[j] == '.' && j+1 < len(rs) && unicode.IsDigit(rs[j+1]):
				b.WriteRune('.')
			default:
				return strconv.ParseFloat(b.String(), 64)
			}
			j++
		}
		return strconv.ParseFloat(b.String(), 64)
	}
	return 0, errors.New("no number in the input")
}

func allDigits(rs []rune) bool {
	if len(rs) != 3 {
		return false
	}
	for _, r := range rs {
		if !unicode.IsDigit(r) {
			return false
		}
	}
	return true
}

// evalArith evaluates an arithmetic expression of numbers, + - * / and parentheses, ignoring
// a trailing "=".
func evalArith(s string) (float64, error) {
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "="))
	p := &exprParser{s: s}
	v, err := p.sum(0)
	if err != nil {
		return 0, err
	}
	if p.skip(); p.i != len(p.s) {
		return 0, fmt.Errorf("unexpected %q", p.s[p.i:])
	}
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, errors.New("not a finite number")
	}
	return v, nil
}

type exprParser struct {
	s string
	i int
}

func (p *exprParser) skip() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *exprParser) sum(depth int) (float64, error) {
	v, err := p.product(depth)
	for p.skip(); err == nil && p.i < len(p.s) && (p.s[p.i] == '+' || p.s[p.i] == '-'); p.skip() {
		op := p.s[p.i]
		p.i++
		var w float64
		if w, err = p.product(depth); op == '+' {
			v += w
		} else {
			v -= w
		}
	}
	return v, err
}

func (p *exprParser) product(depth int) (float64, error) {
	v, err := p.unary(depth)
	for p.skip(); err == nil && p.i < len(p.s) && (p.s[p.i] == '*' || p.s[p.i] == '/'); p.skip() {
		op := p.s[p.i]
		p.i++
		var w float64
		if w, err = p.unary(depth); op == '*' {
			v *= w
		} else if w == 0 {
			err = errors.New("division by zero")
		} else {
			v /= w
		}
	}
	return v, err
}

func (p *exprParser) unary(depth int) (float64, error) {
	p.skip()
	if depth > 200 {
		return 0, errors.New("expression nested too deeply")
	}
	if p.i < len(p.s) && p.s[p.i] == '-' {
		p.i++
		v, err := p.unary(depth + 1)
		return -v, err
	}
	if p.i < len(p.s) && p.s[p.i] == '(' {
		p.i++
		v, err := p.sum(depth + 1)
		if p.skip(); err == nil && (p.i >= len(p.s) || p.s[p.i] != ')') {
			return 0, errors.New("missing )")
		}
		p.i++
		return v, err
	}
	start := p.i
	for p.i < len(p.s) && (p.s[p.i] >= '0' && p.s[p.i] <= '9' || p.s[p.i] == '.') {
		p.i++
	}
	if start == p.i {
		return 0, fmt.Errorf("expected a number at %d", start)
	}
	return strconv.ParseFloat(p.s[start:p.i], 64)
}

// evalBool evaluates a Boolean expression of True, False, not, and, or and parentheses,
// ignoring a trailing "is", with Python's precedence.
func evalBool(s string) (bool, error) {
	s = strings.TrimSuffix(strings.TrimSpace(s), " is")
	toks := strings.Fields(strings.NewReplacer("(", " ( ", ")", " ) ").Replace(s))
	i := 0
	var or func(int) (bool, error)
	var atom func(int) (bool, error)
	atom = func(depth int) (bool, error) {
		if i >= len(toks) || depth > 200 {
			return false, errors.New("incomplete expression")
		}
		t := toks[i]
		i++
		switch t {
		case "True":
			return true, nil
		case "False":
			return false, nil
		case "not":
			v, err := atom(depth + 1)
			return !v, err
		case "(":
			v, err := or(depth + 1)
			if err == nil && (i >= len(toks) || toks[i] != ")") {
				return false, errors.New("missing )")
			}
			i++
			return v, err
		}
		return false, fmt.Errorf("unexpected %q", t)
	}
	and := func(depth int) (bool, error) {
		v, err := atom(depth)
		for err == nil && i < len(toks) && toks[i] == "and" {
			i++
			var w bool
			w, err = atom(depth)
			v = v && w
		}
		return v, err
	}
	or = func(depth int) (bool, error) {
		v, err := and(depth)
		for err == nil && i < len(toks) && toks[i] == "or" {
			i++
			var w bool
			w, err = and(depth)
			v = v || w
		}
		return v, err
	}
	v, err := or(0)
	if err == nil && i != len(toks) {
		err = fmt.Errorf("unexpected %q", toks[i])
	}
	return v, err
}

// formatNumber writes a number in its shortest form ("12", "-3.5"; never "-0").
func formatNumber(x float64) (string, error) {
	if x == 0 {
		x = 0 // -0 prints as "-0"
	}
	return strconv.FormatFloat(x, 'f', -1, 64), nil
}

// formatCents writes a number with two decimals ("144.60").
func formatCents(x float64) (string, error) { return strconv.FormatFloat(x, 'f', 2, 64), nil }

// formatBool writes yes or no.
func formatBool(b bool, yes, no string) (string, error) {
	if b {
		return yes, nil
	}
	return no, nil
}

// date is a calendar date (the sandbox allows no time package: code nodes have no clock).
type date struct{ y, m, d int }

var monthNames = []string{"January", "February", "March", "April", "May", "June", "July",
	"August", "September", "October", "November", "December"}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// parseDate reads a date written with numbers (YYYY-MM-DD, YYYY/MM/DD, MM/DD/YYYY and M/D/YYYY
// in US order, DD.MM.YYYY, YYYYMMDD) or with a month name ("March 5, 2024", "5 Mar 2024",
// "Tuesday, March 5, 2024").
func parseDate(s string) (date, error) {
	s = strings.TrimSpace(s)
	var t date
	f := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' })
	nums := func(parts []string) ([]int, bool) {
		out := make([]int, len(parts))
		for i, p := range parts {
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 {
				return nil, false
			}
			out[i] = n
		}
		return out, true
	}
	switch {
	case len(f) == 1 && len(s) == 8 && !strings.ContainsAny(s, "/-."):
		n, ok := nums([]string{s[:4], s[4:6], s[6:]})
		if !ok {
			return t, fmt.Errorf("not a date: %q", s)
		}
		t = date{n[0], n[1], n[2]}
	case len(f) == 1:
		sep := "/"
		for _, c := range []string{"-", ".", "/"} {
			if strings.Count(s, c) == 2 {
				sep = c
			}
		}
		parts := strings.Split(s, sep)
		n, ok := nums(parts)
		if !ok || len(n) != 3 {
			return t, fmt.Errorf("not a date: %q", s)
		}
		switch {
		case len(parts[0]) == 4:
			t = date{n[0], n[1], n[2]}
		case sep == ".":
			t = date{n[2], n[1], n[0]}
		default:
			t = date{n[2], n[0], n[1]}
		}
	default:
		for _, w := range f {
			if n, err := strconv.Atoi(w); err == nil {
				if len(w) == 4 {
					t.y = n
				} else {
					t.d = n
				}
				continue
			}
			for i, m := range monthNames {
				if len(w) >= 3 && strings.HasPrefix(m, w) {
					t.m = i + 1
				}
			}
		}
	}
	if t.y == 0 || t.m < 1 || t.m > 12 || t.d < 1 || t.d > daysIn(t.y, t.m) {
		return date{}, fmt.Errorf("not a date I can read: %q", s)
	}
	return t, nil
}

// formatDate writes a date in a Go-style layout: 2006 the year, January or Jan the month's
// name, 01 the month and 02 the day in two digits, 2 the day.
func formatDate(t date, layout string) (string, error) {
	var b strings.Builder
	for len(layout) > 0 {
		switch {
		case strings.HasPrefix(layout, "2006"):
			fmt.Fprintf(&b, "%04d", t.y)
			layout = layout[4:]
		case strings.HasPrefix(layout, "January"):
			b.WriteString(monthNames[t.m-1])
			layout = layout[7:]
		case strings.HasPrefix(layout, "Jan"):
			b.WriteString(monthNames[t.m-1][:3])
			layout = layout[3:]
		case strings.HasPrefix(layout, "01"):
			fmt.Fprintf(&b, "%02d", t.m)
			layout = layout[2:]
		case strings.HasPrefix(layout, "02"):
			fmt.Fprintf(&b, "%02d", t.d)
			layout = layout[2:]
		case strings.HasPrefix(layout, "2"):
			fmt.Fprintf(&b, "%d", t.d)
			layout = layout[1:]
		default:
			b.WriteByte(layout[0])
			layout = layout[1:]
		}
	}
	return b.String(), nil
}
