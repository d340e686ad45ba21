package simulator

import (
	"math"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
)

// differs reports whether a would be scored wrong against b by any sensible tolerance: a metric
// must tolerate rounding to about five significant figures (some GSM-Hard labels are rounded),
// so a "wrong" answer must be off by more than that, or truth and metric would disagree.
func differs(a, b float64) bool {
	return math.Abs(a-b) > 1e-3*math.Max(1, math.Abs(b))
}

// nearMiss returns a wrong number close to v of the given kind (wrongAnswerKinds), the way a
// model that slips in arithmetic is wrong: one digit off, a small slip, a power of ten, a lost
// sign, or an operand echoed as the answer. It never returns a number equal to v.
func nearMiss(r *rand.Rand, v float64, kind string, operands []float64) float64 {
	for attempt := 0; attempt < 8; attempt++ {
		var w float64
		switch kind {
		case "digit_slip":
			w = digitSlip(r, v)
		case "magnitude":
			if r.IntN(2) == 0 {
				w = v * 10
			} else {
				w = v / 10
			}
		case "sign":
			w = -v
		case "operand_echo":
			if len(operands) > 0 {
				w = operands[r.IntN(len(operands))]
			} else {
				w = digitSlip(r, v)
			}
		default: // arithmetic_slip
			w = arithmeticSlip(r, v)
		}
		if differs(w, v) && !math.IsInf(w, 0) && !math.IsNaN(w) {
			return w
		}
		kind = "arithmetic_slip" // e.g. sign of zero, echo of the answer itself
	}
	return v*1.1 + 1
}

// digitSlip changes one digit of v's integer part (a copying or carrying error).
func digitSlip(r *rand.Rand, v float64) float64 {
	neg := v < 0
	a := math.Abs(v)
	ip := math.Trunc(a)
	if ip >= 1e15 {
		return v * 1.1
	}
	s := []byte(strconv.FormatFloat(ip, 'f', 0, 64))
	i := r.IntN(min(len(s), 3)) // a slip in a significant digit: later ones are within tolerance
	d := byte('0' + (int(s[i]-'0')+1+r.IntN(9))%10)
	if i == 0 && d == '0' && len(s) > 1 {
		d = '1' + byte(r.IntN(9))
		if d == s[0] {
			d = '9' - (s[0] - '1')
		}
	}
	s[i] = d
	n, _ := strconv.ParseFloat(string(s), 64)
	out := n + (a - ip)
	if neg {
		out = -out
	}
	return out
}

// arithmeticSlip perturbs v by a small absolute or relative amount, keeping integers integral.
func arithmeticSlip(r *rand.Rand, v float64) float64 {
	steps := []float64{1, 2, 3, 5, 10, 100}
	d := steps[r.IntN(len(steps))]
	if r.IntN(3) == 0 || math.Abs(v) > 1000 {
		d = math.Max(1, math.Round(math.Abs(v)*(0.01+0.09*r.Float64())))
	}
	if r.IntN(2) == 0 {
		d = -d
	}
	return v + d
}

// corruption describes how a program was corrupted; the zero value means it was not.
type corruption struct {
	kind string
	line int // 0-based line of the program that changed
}

var (
	numLitRE    = regexp.MustCompile(`(^|[^\w.])(\d+(?:\.\d+)?)\b`)
	binaryOpRE  = regexp.MustCompile(` ([-+*/]) `)
	opSwap      = map[string]string{"+": "-", "-": "+", "*": "/", "/": "*"}
	assignHeads = regexp.MustCompile(`^\s*[A-Za-z_][A-Za-z0-9_]*\s*(=|\+=|-=|\*=|/=)`)
)

// programLines splits a program into lines and says which body lines each corruption may touch.
type programLines struct {
	lines     []string
	operands  []int // lines with a numeric literal after '='
	droppable []int // simple statements whose removal keeps the program syntactically valid
	operators []int // lines with a binary + - * / after '='
}

func analyzeProgram(prog string) programLines {
	pl := programLines{lines: strings.Split(prog, "\n")}
	for i, l := range pl.lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") || strings.HasPrefix(t, "def ") || strings.HasPrefix(t, "return") {
			continue
		}
		_, rhs, ok := strings.Cut(l, "=")
		if ok && numLitRE.MatchString(rhs) {
			pl.operands = append(pl.operands, i)
		}
		if ok && binaryOpRE.MatchString(rhs) {
			pl.operators = append(pl.operators, i)
		}
		if assignHeads.MatchString(l) && !strings.HasSuffix(t, ":") && !onlyStatementOfBlock(pl.lines, i) {
			pl.droppable = append(pl.droppable, i)
		}
	}
	return pl
}

func indentOf(s string) int { return len(s) - len(strings.TrimLeft(s, " \t")) }

// onlyStatementOfBlock reports whether line i is the sole statement of a block (dropping it
// would leave an empty block: a syntax error rather than a wrong step).
func onlyStatementOfBlock(lines []string, i int) bool {
	prev := i - 1
	for prev >= 0 && strings.TrimSpace(lines[prev]) == "" {
		prev--
	}
	if prev < 0 || !strings.HasSuffix(strings.TrimSpace(lines[prev]), ":") {
		return false
	}
	next := i + 1
	for next < len(lines) && strings.TrimSpace(lines[next]) == "" {
		next++
	}
	return next >= len(lines) || indentOf(lines[next]) < indentOf(lines[i])
}

func (pl programLines) applicable(kind string) bool {
	switch kind {
	case "wrong_operand":
		return len(pl.operands) > 0
	case "dropped_line":
		return len(pl.droppable) > 0
	case "swapped_operator":
		return len(pl.operators) > 0
	}
	return false
}

// corruptProgram returns prog with one step corrupted, drawing the kind from w among those the
// program allows. A program none of them applies to gets its returned value changed, so a
// corrupted program always differs from the reference.
func corruptProgram(r *rand.Rand, prog string, w weights) (string, corruption) {
	pl := analyzeProgram(prog)
	k := w.pickAmong(r, pl.applicable)
	lines := append([]string(nil), pl.lines...)
	if k < 0 {
		for i := len(lines) - 1; i >= 0; i-- {
			if t := strings.TrimSpace(lines[i]); strings.HasPrefix(t, "return ") {
				lines[i] = lines[i] + " + 1"
				return strings.Join(lines, "\n"), corruption{kind: "wrong_operand", line: i}
			}
		}
		return prog + "\n# unfinished", corruption{kind: "dropped_line", line: len(lines)}
	}
	kind := w.kinds[k]
	switch kind {
	case "wrong_operand":
		i := pl.operands[r.IntN(len(pl.operands))]
		lhs, rhs, _ := strings.Cut(lines[i], "=")
		locs := numLitRE.FindAllStringSubmatchIndex(rhs, -1)
		m := locs[r.IntN(len(locs))]
		lit := rhs[m[4]:m[5]]
		v, _ := strconv.ParseFloat(lit, 64)
		kinds := []string{"digit_slip", "arithmetic_slip", "magnitude"}
		nv := nearMiss(r, v, kinds[r.IntN(len(kinds))], nil)
		rep := formatLiteral(nv, strings.Contains(lit, "."))
		if rep == lit { // a slip below zero lost its sign in the literal
			rep = formatLiteral(v+1, strings.Contains(lit, "."))
		}
		lines[i] = lhs + "=" + rhs[:m[4]] + rep + rhs[m[5]:]
		return strings.Join(lines, "\n"), corruption{kind: kind, line: i}
	case "dropped_line":
		i := pl.droppable[r.IntN(len(pl.droppable))]
		lines = append(lines[:i], lines[i+1:]...)
		return strings.Join(lines, "\n"), corruption{kind: kind, line: i}
	default: // swapped_operator
		i := pl.operators[r.IntN(len(pl.operators))]
		lhs, rhs, _ := strings.Cut(lines[i], "=")
		locs := binaryOpRE.FindAllStringSubmatchIndex(rhs, -1)
		m := locs[r.IntN(len(locs))]
		lines[i] = lhs + "=" + rhs[:m[2]] + opSwap[rhs[m[2]:m[3]]] + rhs[m[3]:]
		return strings.Join(lines, "\n"), corruption{kind: kind, line: i}
	}
}

// formatLiteral writes v as a Python literal; a float literal stays a float literal.
func formatLiteral(v float64, float bool) string {
	if v < 0 {
		v = -v // a literal in an expression has no sign of its own
	}
	if !float && v == math.Trunc(v) && v < 1e15 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}
