package synth

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"
)

// Example is one input/output pair read from a trace: the plan input and the label.
type Example struct {
	In, Out string
}

// Options bound the search. Zero values take the defaults.
type Options struct {
	// MaxCandidates bounds the programs run on the examples (default 20,000).
	MaxCandidates int
	// MaxSteps bounds a program's length (default 5).
	MaxSteps int
	// Timeout bounds the search's wall time (default 2 s); the candidate bound is the one that
	// normally stops it, so that the result does not depend on the machine's speed.
	Timeout time.Duration
}

func (o *Options) defaults() {
	if o.MaxCandidates <= 0 {
		o.MaxCandidates = 20000
	}
	if o.MaxSteps <= 0 {
		o.MaxSteps = 5
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
}

// ErrNotFound means no program within the bounds fits every example.
var ErrNotFound = errors.New("no program fits the examples")

// Step is one primitive application of a program, with its literal arguments.
type Step struct {
	Prim string   `json:"prim"`
	Args []string `json:"args,omitempty"`
}

// Program is a straight-line pipeline of primitives from the input text to the answer text.
type Program struct {
	Steps []Step `json:"steps"`
}

// String is the program in the synthesis language, e.g. `afterLit("List:") | words | sortAsc
// | joinWith(" ")`.
func (p Program) String() string {
	parts := make([]string, len(p.Steps))
	for i, s := range p.Steps {
		parts[i] = s.Prim
		if len(s.Args) > 0 {
			q := make([]string, len(s.Args))
			for j, a := range s.Args {
				q[j] = fmt.Sprintf("%q", a)
			}
			parts[i] += "(" + strings.Join(q, ", ") + ")"
		}
	}
	return strings.Join(parts, " | ")
}

// Report says what a search did, for the compile log.
type Report struct {
	Examples   int           `json:"examples"`
	Candidates int           `json:"candidates"`
	Distinct   int           `json:"distinct"` // programs with outputs no shorter program had
	Depth      int           `json:"depth"`    // the longest programs tried
	Elapsed    time.Duration `json:"elapsed"`
	Stopped    string        `json:"stopped"` // why the search ended
	Program    *Program      `json:"program,omitempty"`
	// Closest is, when nothing fits, the text-valued program right on most examples, and
	// Matched how many: what a reader needs to see why the search failed.
	Closest *Program `json:"closest,omitempty"`
	Matched int      `json:"matched,omitempty"`
}

// String is the report in one line.
func (r Report) String() string {
	s := fmt.Sprintf("synthesis over %d examples: %d candidate programs run (%d distinct), up to %d steps, %s: %s",
		r.Examples, r.Candidates, r.Distinct, r.Depth, r.Elapsed.Round(time.Microsecond), r.Stopped)
	if r.Program != nil {
		s += "; found " + r.Program.String()
	} else if r.Closest != nil {
		s += fmt.Sprintf("; closest %s, right on %d of %d", r.Closest, r.Matched, r.Examples)
	}
	return s
}

// typ is a value type of the language.
type typ int

const (
	tStr typ = iota
	tStrs
	tNum
	tBool
	tDate
)

// prim is a primitive: its Go function (in prims.go), types and how its literal arguments are
// drawn from the examples.
type prim struct {
	name    string
	in, out typ
	args    func(ex []Example) [][]string
	apply   func(v any, args []string) (any, error)
	comment string
}

func noArgs([]Example) [][]string { return [][]string{nil} }

func str1(f func(string) (string, error)) func(any, []string) (any, error) {
	return func(v any, _ []string) (any, error) { return f(v.(string)) }
}

// prims is the language, in the order the search tries them (cheaper, more general first).
var prims = []prim{
	{name: "trimSpace", in: tStr, out: tStr, args: noArgs, apply: str1(trimSpace), comment: "remove surrounding white space"},
	{name: "lower", in: tStr, out: tStr, args: noArgs, apply: str1(lower), comment: "lower-case"},
	{name: "afterLit", in: tStr, out: tStr, args: markerArgs, apply: func(v any, a []string) (any, error) { return afterLit(v.(string), a[0]) }, comment: "keep the text after a marker every input has"},
	{name: "beforeLast", in: tStr, out: tStr, args: suffixArgs, apply: func(v any, a []string) (any, error) { return beforeLast(v.(string), a[0]) }, comment: "drop the trailing marker every input ends with"},
	{name: "digitsOf", in: tStr, out: tStr, args: noArgs, apply: str1(digitsOf), comment: "keep only the digits"},
	{name: "fillDigits", in: tStr, out: tStr, args: templateArgs, apply: func(v any, a []string) (any, error) { return fillDigits(v.(string), a[0]) }, comment: "write the last digits into the output format"},
	{name: "words", in: tStr, out: tStrs, args: noArgs, apply: func(v any, _ []string) (any, error) { return words(v.(string)) }, comment: "split on white space"},
	{name: "splitOn", in: tStr, out: tStrs, args: sepArgs, apply: func(v any, a []string) (any, error) { return splitOn(v.(string), a[0]) }, comment: "split on a separator every input has"},
	{name: "sortAsc", in: tStrs, out: tStrs, args: noArgs, apply: func(v any, _ []string) (any, error) { return sortAsc(v.([]string)) }, comment: "sort"},
	{name: "reverse", in: tStrs, out: tStrs, args: noArgs, apply: func(v any, _ []string) (any, error) { return reverse(v.([]string)) }, comment: "reverse the order"},
	{name: "joinWith", in: tStrs, out: tStr, args: joinArgs, apply: func(v any, a []string) (any, error) { return joinWith(v.([]string), a[0]) }, comment: "join the items"},
	{name: "firstItem", in: tStrs, out: tStr, args: noArgs, apply: func(v any, _ []string) (any, error) { return firstItem(v.([]string)) }, comment: "take the first item"},
	{name: "lastItem", in: tStrs, out: tStr, args: noArgs, apply: func(v any, _ []string) (any, error) { return lastItem(v.([]string)) }, comment: "take the last item"},
	{name: "countItems", in: tStrs, out: tNum, args: noArgs, apply: func(v any, _ []string) (any, error) { return countItems(v.([]string)) }, comment: "count the items"},
	{name: "firstNumber", in: tStr, out: tNum, args: noArgs, apply: func(v any, _ []string) (any, error) { return firstNumber(v.(string)) }, comment: "read the first number"},
	{name: "evalArith", in: tStr, out: tNum, args: noArgs, apply: func(v any, _ []string) (any, error) { return evalArith(v.(string)) }, comment: "evaluate the arithmetic expression"},
	{name: "evalBool", in: tStr, out: tBool, args: noArgs, apply: func(v any, _ []string) (any, error) { return evalBool(v.(string)) }, comment: "evaluate the Boolean expression"},
	{name: "parseDate", in: tStr, out: tDate, args: noArgs, apply: func(v any, _ []string) (any, error) { return parseDate(v.(string)) }, comment: "read the date"},
	{name: "formatNumber", in: tNum, out: tStr, args: noArgs, apply: func(v any, _ []string) (any, error) { return formatNumber(v.(float64)) }, comment: "write the number"},
	{name: "formatCents", in: tNum, out: tStr, args: noArgs, apply: func(v any, _ []string) (any, error) { return formatCents(v.(float64)) }, comment: "write the number with two decimals"},
	{name: "formatBool", in: tBool, out: tStr, args: boolArgs, apply: func(v any, a []string) (any, error) { return formatBool(v.(bool), a[0], a[1]) }, comment: "write the truth value as the labels do"},
	{name: "formatDate", in: tDate, out: tStr, args: layoutArgs, apply: func(v any, a []string) (any, error) { return formatDate(v.(date), a[0]) }, comment: "write the date in the labels' layout"},
}

// maxArgs bounds the literal arguments drawn per primitive, so that the branching stays small.
const maxArgs = 8

// markerArgs: words of the first input that every input contains, ending in ":" first.
func markerArgs(ex []Example) [][]string {
	if len(ex) == 0 {
		return nil
	}
	var colon, other [][]string
	seen := map[string]bool{}
	for _, w := range strings.Fields(ex[0].In) {
		if seen[w] || len(w) < 2 {
			continue
		}
		seen[w] = true
		all := true
		for _, e := range ex {
			if !strings.Contains(e.In, w) {
				all = false
				break
			}
		}
		if !all {
			continue
		}
		if strings.HasSuffix(w, ":") {
			colon = append(colon, []string{w})
		} else if len(other) < maxArgs {
			other = append(other, []string{w})
		}
	}
	out := append(colon, other...)
	return out[:min(len(out), maxArgs)]
}

// suffixArgs: the last word, when every input ends with it.
func suffixArgs(ex []Example) [][]string {
	if len(ex) == 0 {
		return nil
	}
	f := strings.Fields(ex[0].In)
	if len(f) == 0 {
		return nil
	}
	last := f[len(f)-1]
	for _, e := range ex {
		if !strings.HasSuffix(strings.TrimSpace(e.In), last) {
			return nil
		}
	}
	return [][]string{{last}}
}

// sepArgs: separators every input contains.
func sepArgs(ex []Example) [][]string {
	var out [][]string
	for _, sep := range []string{",", ";", "|", "/", "-", "."} {
		all := len(ex) > 0
		for _, e := range ex {
			if !strings.Contains(e.In, sep) {
				all = false
				break
			}
		}
		if all {
			out = append(out, []string{sep})
		}
	}
	return out
}

// joinArgs: separators in the outputs, and a space.
func joinArgs(ex []Example) [][]string {
	out := [][]string{{" "}}
	for _, sep := range []string{", ", ",", "", "-", "/", "; "} {
		for _, e := range ex {
			if sep != "" && strings.Contains(e.Out, sep) {
				out = append(out, []string{sep})
				break
			}
		}
	}
	return append(out, []string{""})
}

// templateArgs: the outputs' common format, digits that vary becoming D slots. Every output
// must have the same length and the same non-digit characters.
func templateArgs(ex []Example) [][]string {
	if len(ex) == 0 {
		return nil
	}
	first := []rune(ex[0].Out)
	tmpl := make([]rune, len(first))
	copy(tmpl, first)
	for _, e := range ex[1:] {
		o := []rune(e.Out)
		if len(o) != len(first) {
			return nil
		}
		for i := range o {
			switch {
			case o[i] == tmpl[i]:
			case o[i] >= '0' && o[i] <= '9' && (tmpl[i] >= '0' && tmpl[i] <= '9' || tmpl[i] == 'D'):
				tmpl[i] = 'D'
			default:
				return nil
			}
		}
	}
	if !slices.Contains(tmpl, 'D') {
		return nil
	}
	return [][]string{{string(tmpl)}}
}

// boolArgs: the two labels, both ways round.
func boolArgs(ex []Example) [][]string {
	var labels []string
	for _, e := range ex {
		if !slices.Contains(labels, e.Out) {
			labels = append(labels, e.Out)
		}
	}
	if len(labels) != 2 {
		return nil
	}
	slices.Sort(labels)
	return [][]string{{labels[0], labels[1]}, {labels[1], labels[0]}}
}

var outLayouts = []string{"2006-01-02", "01/02/2006", "02.01.2006", "02/01/2006", "January 2, 2006", "Jan 2, 2006", "2 January 2006", "20060102"}

func layoutArgs([]Example) [][]string {
	out := make([][]string, len(outLayouts))
	for i, l := range outLayouts {
		out[i] = []string{l}
	}
	return out
}

// state is a program prefix and its values on every example.
type state struct {
	t     typ
	vals  []any
	steps []Step
}

func key(t typ, vals []any) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d", t)
	for _, v := range vals {
		fmt.Fprintf(h, "\x00%v", v)
	}
	return h.Sum64()
}

// Search looks for the shortest program that maps every example's In to its Out: breadth
// first over program length, keeping one program per distinct vector of intermediate values
// (observational equivalence), trying primitives in a fixed order. It is deterministic
// unless the time bound, not the candidate bound, stops it (the report says which).
func Search(ctx context.Context, ex []Example, opts Options) (Program, Report, error) {
	opts.defaults()
	start := time.Now()
	rep := Report{Examples: len(ex)}
	done := func(why string) { rep.Stopped, rep.Elapsed = why, time.Since(start) }
	if len(ex) == 0 {
		done("no examples")
		return Program{}, rep, ErrNotFound
	}
	args := make([][][]string, len(prims))
	for i, p := range prims {
		args[i] = p.args(ex)
	}
	init := make([]any, len(ex))
	for i, e := range ex {
		init[i] = e.In
	}
	seen := map[uint64]bool{key(tStr, init): true}
	frontier := []state{{t: tStr, vals: init}}
	for depth := 1; depth <= opts.MaxSteps && len(frontier) > 0; depth++ {
		rep.Depth = depth
		var next []state
		for _, st := range frontier {
			for pi, p := range prims {
				if p.in != st.t {
					continue
				}
				for _, a := range args[pi] {
					if rep.Candidates >= opts.MaxCandidates {
						done(fmt.Sprintf("candidate bound %d reached", opts.MaxCandidates))
						return Program{}, rep, ErrNotFound
					}
					if rep.Candidates%256 == 0 {
						if err := ctx.Err(); err != nil {
							done("cancelled")
							return Program{}, rep, err
						}
						if time.Since(start) > opts.Timeout {
							done(fmt.Sprintf("time bound %s reached", opts.Timeout))
							return Program{}, rep, ErrNotFound
						}
					}
					rep.Candidates++
					vals, ok := applyAll(p, st.vals, a)
					if !ok {
						continue
					}
					k := key(p.out, vals)
					if seen[k] {
						continue
					}
					seen[k] = true
					rep.Distinct++
					steps := append(slices.Clone(st.steps), Step{Prim: p.name, Args: a})
					if p.out == tStr {
						m := matched(vals, ex)
						if m == len(ex) {
							prog := Program{Steps: steps}
							rep.Program, rep.Closest, rep.Matched = &prog, nil, 0
							done("found")
							return prog, rep, nil
						}
						if m > rep.Matched {
							rep.Closest, rep.Matched = &Program{Steps: steps}, m
						}
					}
					next = append(next, state{t: p.out, vals: vals, steps: steps})
				}
			}
		}
		frontier = next
	}
	done(fmt.Sprintf("every program of up to %d steps tried", opts.MaxSteps))
	return Program{}, rep, ErrNotFound
}

// applyAll runs p on every value; a failure on any example discards the program (a panic
// counts as one: the primitives are total, but a search must not die on a bug in one).
func applyAll(p prim, in []any, args []string) (out []any, ok bool) {
	defer func() {
		if recover() != nil {
			out, ok = nil, false
		}
	}()
	out = make([]any, len(in))
	for i, v := range in {
		r, err := p.apply(v, args)
		if err != nil {
			return nil, false
		}
		out[i] = r
	}
	return out, true
}

func matched(vals []any, ex []Example) int {
	n := 0
	for i, v := range vals {
		if v.(string) == ex[i].Out {
			n++
		}
	}
	return n
}

// Run applies a program to one input on the host (the same functions the emitted code runs).
func Run(p Program, in string) (string, error) {
	var v any = in
	for _, s := range p.Steps {
		pr, ok := primByName(s.Prim)
		if !ok {
			return "", fmt.Errorf("unknown primitive %q", s.Prim)
		}
		var err error
		if v, err = applyOne(pr, v, s.Args); err != nil {
			return "", fmt.Errorf("%s: %w", s.Prim, err)
		}
	}
	s, ok := v.(string)
	if !ok {
		return "", errors.New("the program does not end in text")
	}
	return s, nil
}

func applyOne(p prim, v any, args []string) (out any, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("panic: %v", r)
		}
	}()
	return p.apply(v, args)
}

func primByName(name string) (prim, bool) {
	for _, p := range prims {
		if p.name == name {
			return p, true
		}
	}
	return prim{}, false
}
