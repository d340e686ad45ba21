// Package solvers holds the library's vetted text solvers: each reads a question as written and
// computes its answer, or returns an error when the question is not of the kind it solves. They
// are capabilities (evaluate a boolean expression, close brackets, sort words, ...), never tied
// to a dataset: the compiler's library teacher offers them wherever the traces show answers of
// their shape, and held-out accuracy decides.
//
// This file is also the source of the code nodes the teacher proposes: compiler/library embeds
// it, renames the package to main and appends a guest.Run entry point (see library.Solver). So it
// may import only what the sandbox allows (wasm.AllowedImports) and must not use the clock, files
// or the network; every loop is bounded by the question's length.
package solvers

import (
	"errors"
	"math/big"
	"sort"
	"strconv"
	"strings"
)

// Func is one solver: the answer to question, or an error saying why it does not apply.
type Func func(question string) (string, error)

// maxQuestion bounds the text any solver reads.
const maxQuestion = 64 << 10

// ErrNotApplicable is returned (wrapped) when a question is not of a solver's kind.
var ErrNotApplicable = errors.New("not applicable")

func notApplicable(why string) error { return errors.New(ErrNotApplicable.Error() + ": " + why) }

// Names lists the solvers in the order the teacher tries them.
func Names() []string {
	return []string{"bool_eval", "bracket_close", "arith_expr", "sort_words", "grid_walk", "swap_track", "truth_chain"}
}

// ByName returns the solver called name.
func ByName(name string) (Func, bool) {
	switch name {
	case "bool_eval":
		return BoolEval, true
	case "bracket_close":
		return BracketClose, true
	case "arith_expr":
		return ArithExpr, true
	case "sort_words":
		return WordSort, true
	case "grid_walk":
		return GridWalk, true
	case "swap_track":
		return SwapTrack, true
	case "truth_chain":
		return TruthChain, true
	}
	return nil, false
}

func checkLen(q string) error {
	if len(q) > maxQuestion {
		return notApplicable("question longer than " + strconv.Itoa(maxQuestion) + " bytes")
	}
	return nil
}

// ---------------------------------------------------------------------------------------------
// bool_eval: "not ( True ) and ( False or True ) is" -> "False" (Python precedence: not, and, or).

// BoolEval evaluates a boolean expression of True, False, not, and, or and parentheses; a
// trailing "is", "=" or "?" is ignored.
func BoolEval(q string) (string, error) {
	if err := checkLen(q); err != nil {
		return "", err
	}
	s := strings.TrimSpace(q)
	for _, suf := range []string{"?", "=", " is"} {
		s = strings.TrimSpace(strings.TrimSuffix(s, suf))
	}
	s = strings.NewReplacer("(", " ( ", ")", " ) ").Replace(s)
	toks := strings.Fields(s)
	if len(toks) == 0 {
		return "", notApplicable("empty expression")
	}
	for _, t := range toks {
		switch t {
		case "True", "False", "not", "and", "or", "(", ")":
		default:
			return "", notApplicable("token " + strconv.Quote(t) + " is not part of a boolean expression")
		}
	}
	p := &boolParser{toks: toks}
	v, err := p.or(0)
	if err != nil {
		return "", err
	}
	if p.i != len(toks) {
		return "", errors.New("unexpected " + strconv.Quote(toks[p.i]))
	}
	if v {
		return "True", nil
	}
	return "False", nil
}

type boolParser struct {
	toks []string
	i    int
}

const maxDepth = 200

func (p *boolParser) peek() string {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return ""
}

func (p *boolParser) or(d int) (bool, error) {
	v, err := p.and(d)
	for err == nil && p.peek() == "or" {
		p.i++
		var w bool
		w, err = p.and(d)
		v = v || w
	}
	return v, err
}

func (p *boolParser) and(d int) (bool, error) {
	v, err := p.not(d)
	for err == nil && p.peek() == "and" {
		p.i++
		var w bool
		w, err = p.not(d)
		v = v && w
	}
	return v, err
}

func (p *boolParser) not(d int) (bool, error) {
	if d > maxDepth {
		return false, errors.New("expression nested too deeply")
	}
	switch p.peek() {
	case "not":
		p.i++
		v, err := p.not(d + 1)
		return !v, err
	case "(":
		p.i++
		v, err := p.or(d + 1)
		if err != nil {
			return false, err
		}
		if p.peek() != ")" {
			return false, errors.New("missing )")
		}
		p.i++
		return v, nil
	case "True":
		p.i++
		return true, nil
	case "False":
		p.i++
		return false, nil
	case "":
		return false, errors.New("expression ends early")
	}
	return false, errors.New("unexpected " + strconv.Quote(p.peek()))
}

// ---------------------------------------------------------------------------------------------
// bracket_close: the closers that complete a bracket sequence.

var closerOf = map[string]string{"(": ")", "[": "]", "{": "}", "<": ">"}

// BracketClose reads the run of space-separated bracket tokens that ends the question and
// returns, space-separated, the closing brackets that complete it, innermost first.
func BracketClose(q string) (string, error) {
	if err := checkLen(q); err != nil {
		return "", err
	}
	toks := strings.Fields(q)
	start := len(toks)
	for start > 0 && isBracket(toks[start-1]) {
		start--
	}
	if start == len(toks) {
		return "", notApplicable("the question does not end in a bracket sequence")
	}
	var stack []string
	for _, t := range toks[start:] {
		if c, ok := closerOf[t]; ok {
			stack = append(stack, c)
			continue
		}
		if len(stack) == 0 || stack[len(stack)-1] != t {
			return "", errors.New("bracket " + t + " closes nothing open")
		}
		stack = stack[:len(stack)-1]
	}
	if len(stack) == 0 {
		return "", notApplicable("the sequence is already closed")
	}
	out := make([]string, len(stack))
	for i := range stack {
		out[i] = stack[len(stack)-1-i]
	}
	return strings.Join(out, " "), nil
}

func isBracket(t string) bool {
	switch t {
	case "(", ")", "[", "]", "{", "}", "<", ">":
		return true
	}
	return false
}

// ---------------------------------------------------------------------------------------------
// arith_expr: "((-5 - 6 * 2 + 4) - (1 - 9 - 0 * 5)) =" -> "-5", exactly.

// ArithExpr evaluates an arithmetic expression of integers and decimals with + - * / and
// parentheses (a trailing "=" or "?" is ignored), exactly; the result is an integer or a
// shortest exact decimal, or an error when it has no finite decimal form.
func ArithExpr(q string) (string, error) {
	if err := checkLen(q); err != nil {
		return "", err
	}
	s := strings.TrimSpace(q)
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSuffix(s, "?"), "="))
	if s == "" {
		return "", notApplicable("empty expression")
	}
	for _, r := range s {
		if !strings.ContainsRune("0123456789.+-*/() \t", r) {
			return "", notApplicable("character " + strconv.QuoteRune(r) + " is not arithmetic")
		}
	}
	p := &arithParser{s: s}
	v, err := p.sum(0)
	if err != nil {
		return "", err
	}
	p.space()
	if p.i != len(p.s) {
		return "", errors.New("unexpected " + strconv.Quote(p.s[p.i:]))
	}
	if v.IsInt() {
		return v.Num().String(), nil
	}
	return decimal(v)
}

type arithParser struct {
	s string
	i int
}

func (p *arithParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *arithParser) sum(d int) (*big.Rat, error) {
	v, err := p.product(d)
	for err == nil {
		p.space()
		if p.i >= len(p.s) || (p.s[p.i] != '+' && p.s[p.i] != '-') {
			break
		}
		op := p.s[p.i]
		p.i++
		var w *big.Rat
		if w, err = p.product(d); err == nil {
			if op == '+' {
				v.Add(v, w)
			} else {
				v.Sub(v, w)
			}
		}
	}
	return v, err
}

func (p *arithParser) product(d int) (*big.Rat, error) {
	v, err := p.unary(d)
	for err == nil {
		p.space()
		if p.i >= len(p.s) || (p.s[p.i] != '*' && p.s[p.i] != '/') {
			break
		}
		op := p.s[p.i]
		p.i++
		var w *big.Rat
		if w, err = p.unary(d); err == nil {
			if op == '*' {
				v.Mul(v, w)
			} else if w.Sign() == 0 {
				err = errors.New("division by zero")
			} else {
				v.Quo(v, w)
			}
		}
	}
	return v, err
}

func (p *arithParser) unary(d int) (*big.Rat, error) {
	if d > maxDepth {
		return nil, errors.New("expression nested too deeply")
	}
	p.space()
	if p.i >= len(p.s) {
		return nil, errors.New("expression ends early")
	}
	switch c := p.s[p.i]; {
	case c == '-' || c == '+':
		p.i++
		v, err := p.unary(d + 1)
		if err == nil && c == '-' {
			v.Neg(v)
		}
		return v, err
	case c == '(':
		p.i++
		v, err := p.sum(d + 1)
		if err != nil {
			return nil, err
		}
		p.space()
		if p.i >= len(p.s) || p.s[p.i] != ')' {
			return nil, errors.New("missing )")
		}
		p.i++
		return v, nil
	case c >= '0' && c <= '9' || c == '.':
		j := p.i
		for j < len(p.s) && (p.s[j] >= '0' && p.s[j] <= '9' || p.s[j] == '.') {
			j++
		}
		if j-p.i > 1000 {
			return nil, errors.New("number too long")
		}
		v, ok := new(big.Rat).SetString(p.s[p.i:j])
		if !ok {
			return nil, errors.New("bad number " + strconv.Quote(p.s[p.i:j]))
		}
		p.i = j
		return v, nil
	}
	return nil, errors.New("unexpected " + strconv.Quote(p.s[p.i:p.i+1]))
}

// decimal writes v exactly as a decimal, or fails when its expansion does not end.
func decimal(v *big.Rat) (string, error) {
	den := new(big.Int).Set(v.Denom())
	digits := 0
	for _, f := range []int64{2, 5} {
		b := big.NewInt(f)
		m := new(big.Int)
		for n := 0; ; n++ {
			q, r := new(big.Int).QuoRem(den, b, m)
			if r.Sign() != 0 {
				digits = max(digits, n)
				break
			}
			den = q
		}
	}
	if den.Cmp(big.NewInt(1)) != 0 {
		return "", errors.New("the result has no finite decimal form")
	}
	return strings.TrimRight(strings.TrimRight(v.FloatString(max(digits, 1)+0), "0"), "."), nil
}

// ---------------------------------------------------------------------------------------------
// sort_words: "Sort the following words alphabetically: List: b c a" -> "a b c".

// WordSort sorts the words listed after the question's last colon, when the question asks for
// a sort, in byte order (lower-case words: alphabetical order), separated by single spaces.
func WordSort(q string) (string, error) {
	if err := checkLen(q); err != nil {
		return "", err
	}
	if !strings.Contains(strings.ToLower(q), "sort") {
		return "", notApplicable("the question does not ask to sort")
	}
	i := strings.LastIndex(q, ":")
	if i < 0 {
		return "", notApplicable("no list after a colon")
	}
	words := strings.Fields(q[i+1:])
	if len(words) == 0 {
		return "", notApplicable("empty list")
	}
	sort.Strings(words)
	return strings.Join(words, " "), nil
}

// ---------------------------------------------------------------------------------------------
// grid_walk: do the instructions return to the starting point?

// step parses "take N step(s) [forward|backward|left|right]" (lower case).
func step(s string) (n int, dir string, ok bool) {
	f := strings.Fields(s)
	if len(f) < 3 || len(f) > 4 || f[0] != "take" || (f[2] != "step" && f[2] != "steps") || len(f[1]) > 6 {
		return 0, "", false
	}
	n, err := strconv.Atoi(f[1])
	if err != nil || n < 0 {
		return 0, "", false
	}
	if len(f) == 4 {
		switch f[3] {
		case "forward", "backward", "left", "right":
			return n, f[3], true
		}
		return 0, "", false
	}
	return n, "", true
}

// GridWalk follows movement instructions ("Take 3 steps left.", "Turn around.", "Always face
// forward.") from the origin and answers whether they end where they started, with the
// question's Yes/No option.
func GridWalk(q string) (string, error) {
	if err := checkLen(q); err != nil {
		return "", err
	}
	body, _, _ := strings.Cut(q, "\nOptions:")
	if !strings.Contains(strings.ToLower(body), "starting point") {
		return "", notApplicable("the question does not ask about the starting point")
	}
	if j := strings.Index(body, "?"); j >= 0 {
		body = body[j+1:]
	}
	x, y, dx, dy := 0, 0, 0, 1
	moves := 0
	for _, s := range strings.Split(body, ".") {
		s = strings.ToLower(strings.TrimSpace(s))
		if s == "" || s == "always face forward" {
			continue
		}
		if n, dir, ok := step(s); ok {
			switch dir {
			case "", "forward":
				x, y = x+n*dx, y+n*dy
			case "backward":
				x, y = x-n*dx, y-n*dy
			case "left":
				x, y = x-n*dy, y+n*dx
			case "right":
				x, y = x+n*dy, y-n*dx
			}
			moves++
			continue
		}
		if f := strings.Fields(s); len(f) == 2 && f[0] == "turn" && (f[1] == "left" || f[1] == "right" || f[1] == "around") {
			switch f[1] {
			case "left":
				dx, dy = -dy, dx
			case "right":
				dx, dy = dy, -dx
			default:
				dx, dy = -dx, -dy
			}
			continue
		}
		return "", notApplicable("instruction " + strconv.Quote(s) + " is not a step or a turn")
	}
	if moves == 0 {
		return "", notApplicable("no steps")
	}
	return yesNo(q, x == 0 && y == 0), nil
}

// yesNo answers with the question's own spelling of yes or no.
func yesNo(q string, yes bool) string {
	if yes {
		if strings.Contains(q, "- yes") {
			return "yes"
		}
		return "Yes"
	}
	if strings.Contains(q, "- no") {
		return "no"
	}
	return "No"
}

// ---------------------------------------------------------------------------------------------
// swap_track: who holds what after a series of pairwise swaps?

// isName reports a capitalised word of letters: "Alice".
func isName(w string) bool {
	if len(w) < 2 || w[0] < 'A' || w[0] > 'Z' {
		return false
	}
	for i := 1; i < len(w); i++ {
		if w[i] < 'a' || w[i] > 'z' {
			return false
		}
	}
	return true
}

// swaps finds every "X and Y swap/switch/trade" in text, in order.
func swaps(text string) [][2]string {
	var out [][2]string
	f := strings.Fields(text)
	for i := 1; i+2 < len(f); i++ {
		a, b := strings.TrimSuffix(f[i-1], ","), f[i+1]
		if f[i] != "and" || !isName(a) || !isName(b) {
			continue
		}
		v := f[i+2]
		if strings.HasPrefix(v, "swap") || strings.HasPrefix(v, "switch") || strings.HasPrefix(v, "trade") {
			out = append(out, [2]string{a, b})
		}
	}
	return out
}

// options reads "(A) text" lines.
func options(text string) [][2]string {
	var out [][2]string
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if len(l) > 4 && l[0] == '(' && l[1] >= 'A' && l[1] <= 'Z' && l[2] == ')' && l[3] == ' ' {
			out = append(out, [2]string{l[1:2], strings.TrimSpace(l[4:])})
		}
	}
	return out
}

// listParts splits "a, b, and c" or "a and b" into its parts.
func listParts(s string) []string {
	var out []string
	for _, p := range strings.Split(strings.ReplaceAll(s, ", and ", ", "), ", ") {
		out = append(out, strings.Split(p, " and ")...)
	}
	return out
}

// SwapTrack reads an initial assignment ("At the start ...: Alice has a pink ball, Bob has a
// brown ball, and Eve has ..."), applies every "X and Y swap/switch/trade ..." in order, and
// answers the final question ("At the end ..., Alice has the") with the option letter naming
// what that person holds.
func SwapTrack(q string) (string, error) {
	if err := checkLen(q); err != nil {
		return "", err
	}
	body, opts, ok := strings.Cut(q, "\nOptions:")
	if !ok {
		return "", notApplicable("no options")
	}
	colon := strings.Index(body, ":")
	if colon < 0 {
		return "", notApplicable("no assignment list")
	}
	end := strings.Index(body[colon:], ".\n")
	if end < 0 {
		end = strings.Index(body[colon:], ". ")
	}
	if end < 0 {
		return "", notApplicable("no end of the assignment list")
	}
	holds := map[string]string{}
	var names []string
	for _, part := range listParts(body[colon+1 : colon+end]) {
		part = strings.TrimSpace(part)
		name, rest, ok := strings.Cut(part, " ")
		if !ok || name == "" || name[0] < 'A' || name[0] > 'Z' {
			return "", notApplicable("assignment " + strconv.Quote(part) + " does not start with a name")
		}
		holds[name] = rest
		names = append(names, name)
	}
	if len(names) < 2 {
		return "", notApplicable("fewer than two people")
	}
	rest := body[colon+end:]
	sw := swaps(rest)
	if len(sw) == 0 {
		return "", notApplicable("no swaps")
	}
	for _, m := range sw {
		a, b := m[0], m[1]
		if _, ok := holds[a]; !ok {
			return "", errors.New("unknown person " + a)
		}
		if _, ok := holds[b]; !ok {
			return "", errors.New("unknown person " + b)
		}
		holds[a], holds[b] = holds[b], holds[a]
	}
	// The person asked about is named in the last sentence.
	last := rest[strings.LastIndex(rest, ".")+1:]
	who := ""
	for _, n := range names {
		if strings.Contains(last, n) {
			who = n
		}
	}
	if who == "" {
		return "", notApplicable("the question names nobody")
	}
	held := holds[who]
	best, bestLen := "", 0
	for _, m := range options(opts) {
		if strings.HasSuffix(held, m[1]) && len(m[1]) > bestLen {
			best, bestLen = m[0], len(m[1])
		}
	}
	if best == "" {
		return "", errors.New("no option matches " + strconv.Quote(held))
	}
	return "(" + best + ")", nil
}

// ---------------------------------------------------------------------------------------------
// truth_chain: "A lies. B says A lies. ... Does C tell the truth?"

// verdict reads "lies" or "tells the truth" at the end of f.
func verdict(f []string) (truthful bool, n int, ok bool) {
	switch {
	case len(f) >= 1 && f[len(f)-1] == "lies":
		return false, 1, true
	case len(f) >= 3 && f[len(f)-3] == "tells" && f[len(f)-2] == "the" && f[len(f)-1] == "truth":
		return true, 3, true
	}
	return false, 0, false
}

// TruthChain resolves a chain of statements about who lies and who tells the truth and answers
// the closing "Does X tell the truth?" with Yes or No.
func TruthChain(q string) (string, error) {
	if err := checkLen(q); err != nil {
		return "", err
	}
	s := strings.TrimSpace(q)
	if _, after, ok := strings.Cut(s, ":"); ok && !strings.Contains(after, ":") {
		s = after
	}
	truthful := map[string]bool{}
	asked := ""
	for _, sent := range strings.FieldsFunc(s, func(r rune) bool { return r == '.' || r == '?' }) {
		f := strings.Fields(sent)
		if len(f) == 0 {
			continue
		}
		if len(f) == 5 && f[0] == "Does" && isName(f[1]) && f[2] == "tell" && f[3] == "the" && f[4] == "truth" {
			asked = f[1]
			continue
		}
		v, n, ok := verdict(f)
		switch {
		case ok && len(f) == n+1 && isName(f[0]):
			truthful[f[0]] = v
		case ok && len(f) == n+3 && isName(f[0]) && f[1] == "says" && isName(f[2]):
			t, known := truthful[f[2]]
			if !known {
				return "", errors.New(f[0] + " speaks of " + f[2] + " before anything is known of " + f[2])
			}
			truthful[f[0]] = v == t
		default:
			return "", notApplicable("sentence " + strconv.Quote(strings.TrimSpace(sent)) + " is not a statement about truth")
		}
	}
	t, ok := truthful[asked]
	if asked == "" || !ok {
		return "", notApplicable("no question about someone known")
	}
	return yesNo(q, t), nil
}
