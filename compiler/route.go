package compiler

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/sgde-project/sgde/compiler/pac"
	"github.com/sgde-project/sgde/compiler/stats"
	"github.com/sgde-project/sgde/compiler/teacher"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
)

// Routing (issue 17): when a candidate edit wins on some held-out items and loses on others,
// both at least Config.SplitMin times, one plan cannot be right for both groups. The compiler
// then looks on the training items for an input feature that separates the items the edit helps
// from those it hurts, splits the training and held-out items by it, compiles each side as its
// own plan (partition.go), writes the feature as a code classifier and tries the routed plan
// over the compiled sides. The routed plan is accepted by the same held-out test as any
// candidate, on all the held-out items, so a misrouted item counts against it; the router's own
// accuracy on the held-out items where exactly one branch is right is logged with it.

// split is a learned partition rule: items whose input field contains token go to the edited
// branch when edited is true (to the incumbent otherwise).
type split struct {
	field  string
	token  string
	edited bool
	// acc is the rule's accuracy on the training items exactly one plan got right, n their count,
	// helped how many of them the candidate got right.
	acc    float64
	n      int
	helped int
}

func (s split) String() string {
	side, other := "edited", "incumbent"
	if !s.edited {
		side, other = other, side
	}
	return fmt.Sprintf("inputs.%s has the word %q -> %s, else %s (%.0f%% of %d discordant training items)", s.field, s.token, side, other, 100*s.acc, s.n)
}

// list is s as a decision list over the branches edited and incumbent.
func (s split) list() ruleList {
	present, absent := branchEdited, branchIncumbent
	if !s.edited {
		present, absent = absent, present
	}
	return ruleList{field: s.field, rules: []wordRule{{token: s.token, branch: present}}, fallback: absent,
		branches: []string{branchEdited, branchIncumbent}, desc: s.String()}
}

// wordRule sends the items whose input has token among its words to branch.
type wordRule struct{ token, branch string }

// ruleList is a learned partition: the first rule whose word the input has picks the branch,
// fallback when none does. It is what the compiler's classifier computes (classifierSource)
// and what the partitions are cut by (branch), over the input's words only.
type ruleList struct {
	field    string
	rules    []wordRule
	fallback string
	// branches are the branch names in the router's order.
	branches []string
	// desc says how the list was learned, for the log.
	desc string
}

// branch is the branch an item whose routed input is v goes to.
func (l ruleList) branch(v any) string {
	text, _ := v.(string)
	t := tokens(text)
	for _, r := range l.rules {
		if t[r.token] {
			return r.branch
		}
	}
	return l.fallback
}

// side says which items go to branch b, in terms of the input's words (the rules apply in
// order: an item goes where the first word it has says).
func (l ruleList) side(b string) string {
	var has, all []string
	for _, r := range l.rules {
		all = append(all, strconv.Quote(r.token))
		if r.branch == b {
			has = append(has, strconv.Quote(r.token))
		}
	}
	var out []string
	if len(has) > 0 {
		out = append(out, fmt.Sprintf("has the word %s", strings.Join(has, " or ")))
	}
	if b == l.fallback {
		out = append(out, fmt.Sprintf("lacks the word%s %s", map[bool]string{true: "s", false: ""}[len(all) > 1], strings.Join(all, ", ")))
	}
	return fmt.Sprintf("inputs.%s %s", l.field, strings.Join(out, ", or "))
}

// Branch names of a compiler-made router.
const (
	branchEdited    = "edited"
	branchIncumbent = "incumbent"
)

// minSplitAccuracy is the least training accuracy a rule needs before it is tried: below it the
// routed plan would mostly mix the two plans' errors.
const minSplitAccuracy = 0.8

// minSplitItems is the least number of discordant training items a rule is learned from: with
// fewer, some word of a large vocabulary separates them by chance. minSplitSide is the least of
// them the edit must have helped and hurt each: with all on one side, a word common to every
// item "separates" them and the split is no split.
const (
	minSplitItems = 10
	minSplitSide  = 3
)

// textInput returns the plan's only string input, or "".
func textInput(p *plans.Plan) string {
	name := ""
	for _, in := range p.Inputs {
		if in.Type == plans.TypeString {
			if name != "" {
				return ""
			}
			name = in.Name
		}
	}
	return name
}

// tokens are the features a rule may test: the input's words (letters, digits and the marks
// that make option labels like "(A)" and field names like "Options:"), at most 64 bytes each.
// Only the item's input text is read, never its id, label or family. classifierSource repeats
// wordSep, so that the sandboxed classifier routes exactly as the partitions were cut.
func tokens(text string) map[string]bool {
	out := map[string]bool{}
	for _, w := range strings.FieldsFunc(text, wordSep) {
		if len(w) <= 64 {
			out[w] = true
		}
	}
	return out
}

func wordSep(r rune) bool {
	return unicode.IsSpace(r) || r == ',' || r == '.' || r == '?' || r == '"' || r == '\''
}

// learnSplit finds the token whose presence best separates the items the candidate alone got
// right (helped) from those only the incumbent got right (hurt). Ties go to the longer, then
// the smaller token, so the result is deterministic and, as in learnList, the more specific of
// equally good words wins (a short common word is likelier to occur in unseen items of the
// other side).
func learnSplit(items []runtime.Item, field string, cand, inc []bool) (split, bool) {
	type ex struct {
		toks   map[string]bool
		helped bool
	}
	var exs []ex
	vocab := map[string]bool{}
	for i, it := range items {
		if cand[i] == inc[i] {
			continue
		}
		text, _ := it.Inputs[field].(string)
		t := tokens(text)
		for w := range t {
			vocab[w] = true
		}
		exs = append(exs, ex{toks: t, helped: cand[i]})
	}
	helped := 0
	for _, e := range exs {
		if e.helped {
			helped++
		}
	}
	if len(exs) == 0 {
		return split{}, false
	}
	words := make([]string, 0, len(vocab))
	for w := range vocab {
		words = append(words, w)
	}
	sort.Slice(words, func(i, j int) bool {
		if len(words[i]) != len(words[j]) {
			return len(words[i]) > len(words[j])
		}
		return words[i] < words[j]
	})
	var best split
	for _, w := range words {
		right := 0 // present -> edited
		for _, e := range exs {
			if e.toks[w] == e.helped {
				right++
			}
		}
		for _, edited := range []bool{true, false} {
			r := right
			if !edited {
				r = len(exs) - right
			}
			acc := float64(r) / float64(len(exs))
			if acc > best.acc {
				best = split{field: field, token: w, edited: edited, acc: acc, n: len(exs)}
			}
		}
	}
	best.helped = helped
	return best, best.acc >= minSplitAccuracy && best.n >= minSplitItems && min(helped, len(exs)-helped) >= minSplitSide
}

// classifierSource is the Go source of the code classifier for l. It splits the text into words
// as tokens does (wordSep) and applies the rules in order.
func classifierSource(l ruleList) string {
	var rules strings.Builder
	for _, r := range l.rules {
		fmt.Fprintf(&rules, "\t{%q, %q},\n", r.token, r.branch)
	}
	return fmt.Sprintf(`package main

import (
	"strings"
	"unicode"

	"github.com/sgde-project/sgde/wasm/guest"
)

// Written by the sgde compiler from its training items (see the plan's description).

// rules: the first word the text has picks its branch; fallback when it has none.
var rules = []struct{ word, branch string }{
%s}

const fallback = %q

func wordSep(r rune) bool {
	return unicode.IsSpace(r) || r == ',' || r == '.' || r == '?' || r == '"' || r == '\''
}

func main() {
	guest.Run(func(in map[string]any) (map[string]any, error) {
		text, _ := in["text"].(string)
		words := map[string]bool{}
		for _, w := range strings.FieldsFunc(text, wordSep) {
			words[w] = true
		}
		for _, r := range rules {
			if words[r.word] {
				return map[string]any{"branch": r.branch}, nil
			}
		}
		return map[string]any{"branch": fallback}, nil
	})
}
`, rules.String(), l.fallback)
}

var (
	classifierRuleRE     = regexp.MustCompile(`\t\{("[^"]*"), ("[^"]*")\},`)
	classifierFallbackRE = regexp.MustCompile(`const fallback = ("[^"]*")`)
)

// ClassifierBranch computes natively what a classifier the compiler wrote (classifierSource)
// returns for text, read back from its source: for fake students and checks that run routed
// plans without the sandbox. It fails on any other source.
func ClassifierBranch(source, text string) (string, error) {
	fb := classifierFallbackRE.FindStringSubmatch(source)
	if fb == nil || !strings.Contains(source, "Written by the sgde compiler") {
		return "", errors.New("not a classifier the compiler wrote")
	}
	l := ruleList{}
	for _, m := range classifierRuleRE.FindAllStringSubmatch(source, -1) {
		w, err1 := strconv.Unquote(m[1])
		b, err2 := strconv.Unquote(m[2])
		if err1 != nil || err2 != nil {
			return "", errors.New("classifier rule not understood")
		}
		l.rules = append(l.rules, wordRule{token: w, branch: b})
	}
	var err error
	if l.fallback, err = strconv.Unquote(fb[1]); err != nil {
		return "", errors.New("classifier fallback not understood")
	}
	return l.branch(text), nil
}

// routedPlan builds the plan that runs branches[b] for the items l sends to b, with inc's name
// and inputs. Each branch keeps its own defaults.
func routedPlan(inc *plans.Plan, l ruleList, branches map[string]*plans.Plan, limits *plans.Limits) (*plans.Plan, error) {
	inputs := map[string]string{}
	for _, in := range inc.Inputs {
		inputs[in.Name] = "inputs." + in.Name
	}
	var bs []plans.Branch
	for _, name := range l.branches {
		q, err := clonePlan(branches[name])
		if err != nil {
			return nil, err
		}
		q.Provenance = nil
		q.Metadata.Name = inc.Metadata.Name + "-" + name
		in := map[string]string{}
		for k, v := range inputs {
			in[k] = v
		}
		bs = append(bs, plans.Branch{Name: name, Inputs: in, Plan: q})
	}
	var lim *plans.Limits
	if limits != nil {
		l := *limits
		lim = &l
	}
	r := &plans.Plan{
		APIVersion: plans.APIVersion, Kind: plans.KindPlan,
		Metadata: plans.Metadata{Name: inc.Metadata.Name, Description: "Routed by the compiler: " + l.desc},
		Inputs:   append([]plans.Input(nil), inc.Inputs...),
		Output:   "route",
		Nodes: []plans.Node{
			{ID: "classify", Substrate: plans.SubstrateCode, Description: "router classifier written by the compiler",
				Code: &plans.CodeNode{Source: classifierSource(l), Inputs: map[string]string{"text": "inputs." + l.field},
					Outputs: map[string]plans.Type{"branch": plans.TypeString}, Limits: lim}},
			{ID: "route", Substrate: plans.SubstrateRouter, Router: &plans.RouterNode{On: "classify.branch", Default: l.fallback, Branches: bs}},
		},
	}
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("routed plan: %w", err)
	}
	return r, nil
}

// routerCheck counts misrouted held-out items: of the items on which the branches' plans,
// each run on every held-out item, disagree (some right, some wrong), those the routed run sent
// to a branch that gets them wrong. With two branches these are the items one branch alone
// gets right.
func routerCheck(routed Scores, right map[string][]bool) RouterCheck {
	var r RouterCheck
	for i := range routed.Results {
		if i >= len(routed.Traces) {
			break
		}
		some, all := false, true
		for _, bits := range right {
			if i >= len(bits) {
				return r
			}
			some = some || bits[i]
			all = all && bits[i]
		}
		if !some || all {
			continue
		}
		r.Routable++
		if b := right[branchOf(routed, i)]; b == nil || !b[i] {
			r.Misrouted++
		}
	}
	return r
}

// branchOf is the branch the routed plan took on item i ("" when it did not get that far).
func branchOf(s Scores, i int) string {
	tr := s.Traces[i]
	if tr == nil {
		return ""
	}
	for _, n := range tr.Nodes {
		if n != nil && n.Route != nil {
			return n.Route.Branch
		}
	}
	return ""
}

// trySplit tries a router between the incumbent and a candidate whose held-out wins and losses
// both reached Config.SplitMin (or whose new code node failed its probe tests, right on some
// items and wrong on others): it learns the rule, compiles each partition as its own plan and
// returns the routed plan over them and its held-out scores when it passes the acceptance test.
func (c *compiler) trySplit(ctx context.Context, iter int, incumbent *plans.Plan, train, heldout Scores, cand scored) (*plans.Plan, Scores, bool, error) {
	cfg := c.cfg
	ev := Event{Iteration: iter, Kind: EventCandidate, Candidate: cand.idx + 1, IncumbentRisk: fptr(heldout.Risk()), Accepted: bptr(false)}
	field := textInput(incumbent)
	if field == "" || textInput(cand.plan) != field {
		return nil, Scores{}, false, nil
	}
	candTrain, err := c.eval(ctx, cand.plan, cfg.Train)
	if err != nil {
		return nil, Scores{}, false, fmt.Errorf("evaluate candidate %d on training data for a router: %w", cand.idx+1, err)
	}
	c.mixed = mixedEvidence(cfg.Train, cand, candTrain.Bits(), train.Bits())
	s, ok := learnSplit(cfg.Train, field, candTrain.Bits(), train.Bits())
	name := fmt.Sprintf("candidate %d", cand.idx+1)
	if cand.idx < 0 {
		name = "an earlier round's candidate" // kept from a round that accepted another
	}
	ev.Summary = []string{fmt.Sprintf("route between %s and the incumbent: %s", name, s)}
	if !ok {
		ev.Reason = fmt.Sprintf("no input feature separates the items %s helps from those it hurts (best %.0f%% of %d, need %.0f%% of at least %d)", name, 100*s.acc, s.n, 100*minSplitAccuracy, minSplitItems)
		if hurt := s.n - s.helped; s.n >= minSplitItems && min(s.helped, hurt) < minSplitSide {
			ev.Reason = fmt.Sprintf("%s helped %d and hurt %d training items: a rule needs at least %d of each, else any word common to one side separates them", name, s.helped, hurt, minSplitSide)
		}
		c.emit(ev)
		return nil, Scores{}, false, nil
	}
	var candHeld []bool // unknown for a candidate that never reached the held-out test
	if cand.held.N() > 0 {
		candHeld = cand.held.Bits()
	}
	starts := map[string]origin{branchEdited: {plan: cand.plan, held: candHeld}, branchIncumbent: {plan: incumbent, held: heldout.Bits()}}
	return c.tryRouted(ctx, ev, incumbent, heldout, s.list(), starts)
}

// origin is where a partition's compile starts: a plan and its correctness on every held-out
// item of the parent (nil when unknown: the partition compile measures it on its own items).
// ifSmall, when set, is the origin of a partition too small to be compiled, whose branch is
// then its starting plan as it is.
type origin struct {
	plan    *plans.Plan
	held    []bool
	ifSmall *origin
}

// tryRouted cuts the data by l, compiles each partition from its start, and tries the routed
// plan over the compiled partitions against the incumbent; ev is the log event it completes.
func (c *compiler) tryRouted(ctx context.Context, ev Event, incumbent *plans.Plan, heldout Scores, l ruleList, starts map[string]origin) (*plans.Plan, Scores, bool, error) {
	cfg := c.cfg
	iter := ev.Iteration
	ps := c.partitions(iter, l, starts)
	for _, p := range ps {
		if err := c.compilePartition(ctx, p); err != nil {
			return nil, Scores{}, false, err
		}
		c.emit(Event{Iteration: iter, Kind: EventPartition, Partitions: []Partition{p.Partition}})
	}
	branches := map[string]*plans.Plan{}
	for _, p := range ps {
		ev.Partitions = append(ev.Partitions, p.Partition)
		branches[p.Branch] = p.plan
	}
	q, err := routedPlan(incumbent, l, branches, cfg.CodeLimits)
	if err != nil {
		ev.Reason = err.Error()
		c.emit(ev)
		return nil, Scores{}, false, nil
	}
	ev.Digest = c.digest(q)
	c.tried[ev.Digest] = true
	held, err := c.eval(ctx, q, cfg.Heldout)
	if err != nil {
		return nil, Scores{}, false, fmt.Errorf("evaluate routed plan: %w", err)
	}
	right := map[string][]bool{}
	for _, p := range ps {
		if right[p.Branch], err = c.branchHeld(ctx, p, ps); err != nil {
			return nil, Scores{}, false, err
		}
	}
	pr, err := stats.Pair(held.Bits(), heldout.Bits())
	if err != nil {
		return nil, Scores{}, false, err
	}
	p := stats.McNemarExact(pr.OnlyA, pr.OnlyB)
	rc := routerCheck(held, right)
	risk := held.Risk()
	calls, _, _ := held.PerItem()
	ev.HeldoutRisk, ev.PValue, ev.Wins, ev.Losses, ev.CallsPerItem = fptr(risk), fptr(p), pr.OnlyA, pr.OnlyB, fptr(calls)
	ev.Answers = ptrTo(held.Answers())
	ev.RoutableAccuracy, ev.Misrouted = fptr(rc.Accuracy()), rc.Misrouted
	route := rc.Line()
	switch {
	case held.Correct() == 0 && held.N() > 0 && held.Results[0].Error != "":
		ev.Reason = fmt.Sprintf("routed: the plan failed on the held-out items (%s): %s", held.Results[0].ErrorKind, firstLine(held.Results[0].Error, 300))
	case heldout.Risk()-risk < cfg.MinDelta-1e-12:
		ev.Reason = fmt.Sprintf("routed: held-out risk %.3f does not drop by min-delta %g from %.3f; %s", risk, cfg.MinDelta, heldout.Risk(), route)
	case pr.OnlyA <= pr.OnlyB || p > cfg.Alpha:
		ev.Reason = fmt.Sprintf("routed: not significant: McNemar p=%.3g > alpha %g (%d wins, %d losses); %s", p, cfg.Alpha, pr.OnlyA, pr.OnlyB, route)
	default:
		ev.Accepted = bptr(true)
		c.st.Router = &rc
		c.st.Partitions = ev.Partitions
		ev.Reason = fmt.Sprintf("routed: held-out risk %.3f -> %.3f, McNemar p=%.3g (%d wins, %d losses); %s", heldout.Risk(), risk, p, pr.OnlyA, pr.OnlyB, route)
		c.emit(ev)
		return q, held, true, nil
	}
	c.emit(ev)
	return nil, Scores{}, false, nil
}

// routedPAC is the per-branch PAC section of a routed incumbent: the training items each branch
// received (from the training traces) and the router's misrouting on held-out items (from the
// checkpoint, which keeps the check of the router it accepted).
func (c *compiler) routedPAC(p *plans.Plan, train Scores) (pac.Routed, error) {
	trainN := map[string]map[string]int{}
	for i := range train.Traces {
		if train.Traces[i] == nil {
			continue
		}
		for _, n := range train.Traces[i].Nodes {
			if n != nil && n.Route != nil {
				if trainN[n.ID] == nil {
					trainN[n.ID] = map[string]int{}
				}
				trainN[n.ID][n.Route.Branch]++
			}
		}
	}
	heldout := map[string][2]int{}
	if rc := c.st.Router; rc != nil {
		for _, r := range p.Routers() {
			heldout[r.ID] = [2]int{rc.N(), rc.Misrouted}
		}
	}
	return pac.ForRouted(p, c.cfg.Epsilon, c.cfg.Delta, trainN, heldout)
}

// maxMixed bounds the helped and the hurt items kept for the teacher's next round.
const maxMixed = 24

// mixedEvidence is what the teacher's next round is shown of a candidate that helped some
// training items and hurt others (teacher.Input.Mixed): its edits, and the items only it, or
// only the incumbent, got right, with their inputs and labels. An LLM teacher may answer with a
// route edit: a partition proposal of its own, evaluated like any candidate.
func mixedEvidence(items []runtime.Item, cand scored, candBits, incBits []bool) *teacher.Mixed {
	m := &teacher.Mixed{Rationale: cand.ev.Rationale, Edits: cand.ev.Edits}
	for i, it := range items {
		if i >= len(candBits) || i >= len(incBits) || candBits[i] == incBits[i] {
			continue
		}
		ex := teacher.Example{Item: it.ID, Inputs: it.Inputs, Expected: it.Label}
		if candBits[i] && len(m.Helped) < maxMixed {
			m.Helped = append(m.Helped, ex)
		} else if !candBits[i] && len(m.Hurt) < maxMixed {
			m.Hurt = append(m.Hurt, ex)
		}
	}
	if len(m.Helped) == 0 || len(m.Hurt) == 0 || len(m.Edits) == 0 {
		return nil
	}
	return m
}
