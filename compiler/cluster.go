package compiler

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
)

// Routing by the form of the answers (issue 17). A mixture whose kinds of work want different
// plans does not always show it through one edit: an edit may win and lose inside every kind
// (chain of thought on a four-family mixture did), and the teacher, shown a quarter of the
// evidence of each kind, proposes nothing that fits any. The other evidence the issue names is
// clusters: the training items whose expected answers take different forms (numbers, one word
// from a small set, lists of words, bracket sequences) are different kinds of work. When a round
// ends without an accepted candidate, the compiler groups the training items by the form of
// their labels, learns a decision list of input words that sends each group to its own branch
// (the labels are not known when the plan runs, so the router reads only the input), compiles
// each partition as its own plan from the compile's initial plan and tries the routed plan by the usual
// held-out test. It does this once per compile (State.Clustered). A family label never enters:
// only label values' character classes and input words.

var optionForm = regexp.MustCompile(`^\([A-Z]\)$`)

// answerForm is the form of an expected answer: "number", "option" ("(A)"), "word" (one word of
// letters), "words" (letters and spaces), "symbols" (no letters or digits), "text" (anything
// else) or "empty".
func answerForm(label any) string {
	s := strings.TrimSpace(fmt.Sprint(label))
	if s == "" {
		return "empty"
	}
	if _, err := strconv.ParseFloat(strings.ReplaceAll(s, ",", ""), 64); err == nil {
		return "number"
	}
	if optionForm.MatchString(s) {
		return "option"
	}
	var letters, digits, spaces, other int
	for _, r := range s {
		switch {
		case unicode.IsLetter(r) || r == '\'' || r == '-':
			letters++
		case unicode.IsDigit(r):
			digits++
		case unicode.IsSpace(r):
			spaces++
		default:
			other++
		}
	}
	switch {
	case letters > 0 && digits == 0 && other == 0 && spaces == 0:
		return "word"
	case letters > 0 && digits == 0 && other == 0:
		return "words"
	case letters == 0 && digits == 0:
		return "symbols"
	}
	return "text"
}

// fallbackMixed names the fallback branch of a list that could not separate every group.
const fallbackMixed = "mixed"

// learnList learns a decision list of input words that sends each group of items (by form) of
// at least minSize items to its own branch. At each step it takes, of every group still
// unseparated and every word of its items still in play, the word that best separates that group
// from the other items in play: the items with the word must be at least minSplitAccuracy that
// group's (precision), and the word must reach at least minSplitAccuracy of the group's items in
// play (recall) or, failing any such word, a fifth of the group (and half of minSize): a group
// two kinds of question share may be reached by one word per kind ("plausible", then "truth").
// A group is done once minSplitAccuracy of its items are routed to it; the last group, or the
// groups no word separates, get the fallback. acc is the share of the grouped training items
// the list sends to their group's branch.
func learnList(items []runtime.Item, field string, forms []string, minSize int) (l ruleList, acc float64, ok bool) {
	size := map[string]int{}
	for _, f := range forms {
		size[f]++
	}
	var groups []string
	for f, n := range size {
		if n >= minSize {
			groups = append(groups, f)
		}
	}
	sort.Strings(groups)
	if len(groups) < 2 {
		return ruleList{}, 0, false
	}
	toks := make([]map[string]bool, len(items))
	for i, it := range items {
		text, _ := it.Inputs[field].(string)
		toks[i] = tokens(text)
	}
	alive := make([]bool, len(items))
	for i := range alive {
		alive[i] = true
	}
	l = ruleList{field: field, desc: fmt.Sprintf("by the form of the expected answers (%s)", formSizes(groups, size))}
	left := append([]string(nil), groups...)
	routed := map[string]int{} // group -> its items routed to it so far
	for len(left) > 1 {
		type pick struct {
			group, word string
			tp, score   int
		}
		var best *pick
		for _, g := range left {
			count := map[string][2]int{} // word -> [items of g with it, other items with it]
			n := 0
			for i := range items {
				if !alive[i] {
					continue
				}
				in := forms[i] == g
				if in {
					n++
				}
				for w := range toks[i] {
					c := count[w]
					if in {
						c[0]++
					} else {
						c[1]++
					}
					count[w] = c
				}
			}
			words := make([]string, 0, len(count))
			for w := range count {
				words = append(words, w)
			}
			// Ties go to the longer word, then the smaller: among words every item of the group
			// has and no other training item has, a longer one is more specific to the group
			// ("parentheses" rather than "rest", which GSM-Hard's unseen questions also use).
			sort.Slice(words, func(i, j int) bool {
				if len(words[i]) != len(words[j]) {
					return len(words[i]) > len(words[j])
				}
				return words[i] < words[j]
			})
			least := max((minSize+1)/2, (size[g]+4)/5)
			for _, w := range words {
				c := count[w]
				tp, fp := c[0], c[1]
				if tp == 0 || float64(tp) < minSplitAccuracy*float64(tp+fp) || (float64(tp) < minSplitAccuracy*float64(n) && tp < least) {
					continue
				}
				score := tp - fp - (n - tp)
				if best == nil || score > best.score {
					best = &pick{group: g, word: w, tp: tp, score: score}
				}
			}
		}
		if best == nil {
			break
		}
		l.rules = append(l.rules, wordRule{token: best.word, branch: best.group})
		for i := range items {
			if alive[i] && toks[i][best.word] {
				alive[i] = false
				if forms[i] == best.group {
					routed[best.group]++
				}
			}
		}
		if float64(routed[best.group]) >= minSplitAccuracy*float64(size[best.group]) {
			left = slices.DeleteFunc(left, func(g string) bool { return g == best.group })
		}
	}
	if len(l.rules) == 0 {
		return l, 0, false
	}
	l.fallback = fallbackMixed
	if len(left) == 1 {
		l.fallback = left[0]
	}
	for _, r := range l.rules {
		if !slices.Contains(l.branches, r.branch) {
			l.branches = append(l.branches, r.branch)
		}
	}
	if !slices.Contains(l.branches, l.fallback) {
		l.branches = append(l.branches, l.fallback)
	}
	right, grouped := 0, 0
	for i, it := range items {
		if size[forms[i]] < minSize {
			continue
		}
		grouped++
		b := l.branch(it.Inputs[field])
		if b == forms[i] || (b == fallbackMixed && slices.Contains(left, forms[i])) {
			right++
		}
	}
	acc = float64(right) / float64(grouped)
	var rules []string
	for _, r := range l.rules {
		rules = append(rules, fmt.Sprintf("%q -> %s", r.token, r.branch))
	}
	l.desc += fmt.Sprintf(": inputs.%s has the word %s, else %s (%.0f%% of %d grouped training items)",
		field, strings.Join(rules, ", then "), l.fallback, 100*acc, grouped)
	return l, acc, acc >= minSplitAccuracy
}

func formSizes(groups []string, size map[string]int) string {
	var out []string
	for _, g := range groups {
		out = append(out, fmt.Sprintf("%d %s", size[g], g))
	}
	return strings.Join(out, ", ")
}

// tryClusters tries, once per compile, a router by the form of the expected answers: each
// partition is compiled from the incumbent as its own plan.
func (c *compiler) tryClusters(ctx context.Context, iter int, incumbent *plans.Plan, train, heldout Scores) (*plans.Plan, Scores, bool, error) {
	cfg := c.cfg
	c.st.Clustered = true
	field := textInput(incumbent)
	if field == "" || train.Risk() <= cfg.Epsilon {
		return nil, Scores{}, false, nil
	}
	forms := make([]string, len(cfg.Train))
	for i, it := range cfg.Train {
		forms[i] = answerForm(it.Label)
	}
	l, acc, ok := learnList(cfg.Train, field, forms, cfg.MinPartition)
	if l.desc == "" {
		return nil, Scores{}, false, nil // fewer than two forms: no evidence of kinds
	}
	if len(l.rules) == 0 {
		c.emit(Event{Iteration: iter, Kind: EventCandidate, IncumbentRisk: fptr(heldout.Risk()), Accepted: bptr(false),
			Summary: []string{"route " + l.desc},
			Reason:  fmt.Sprintf("no input word reaches %.0f%% of a group's items (or a fifth of them) with %.0f%% of its items in the group", 100*minSplitAccuracy, 100*minSplitAccuracy)})
		return nil, Scores{}, false, nil
	}
	ev := Event{Iteration: iter, Kind: EventCandidate, IncumbentRisk: fptr(heldout.Risk()), Accepted: bptr(false),
		Summary: []string{"route " + l.desc}}
	if !ok {
		ev.Reason = fmt.Sprintf("the input words separate the answer forms on only %.0f%% of the training items (need %.0f%%)", 100*acc, 100*minSplitAccuracy)
		c.emit(ev)
		return nil, Scores{}, false, nil
	}
	// Each group is compiled as if it had come alone: from the plan the compile started from,
	// not from the incumbent, whose edits were chosen on the mixed evidence (its demonstrations,
	// say, are items of every kind). A group too small to compile keeps the incumbent.
	starts := map[string]origin{}
	for _, b := range l.branches {
		starts[b] = origin{plan: cfg.Initial, ifSmall: &origin{plan: incumbent, held: heldout.Bits()}}
	}
	return c.tryRouted(ctx, ev, incumbent, heldout, l, starts)
}
