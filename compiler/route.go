package compiler

import (
	"context"
	"fmt"
	"sort"
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
	// acc is the rule's accuracy on the training items exactly one plan got right, n their count.
	acc float64
	n   int
}

func (s split) String() string {
	side, other := "edited", "incumbent"
	if !s.edited {
		side, other = other, side
	}
	return fmt.Sprintf("inputs.%s has the word %q -> %s, else %s (%.0f%% of %d discordant training items)", s.field, s.token, side, other, 100*s.acc, s.n)
}

// edits reports whether an item whose routed input is v goes to the edited branch: the very
// test the classifier (classifierSource) makes in the sandbox.
func (s split) edits(v any) bool {
	text, _ := v.(string)
	return tokens(text)[s.token] == s.edited
}

// side is the rule that sends items to the edited branch (edited) or to the other.
func (s split) side(edited bool) string {
	verb := "has"
	if edited != s.edited {
		verb = "lacks"
	}
	return fmt.Sprintf("inputs.%s %s the word %q", s.field, verb, s.token)
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
// right (helped) from those only the incumbent got right (hurt). Ties go to the shorter, then
// the smaller token, so the result is deterministic.
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
			return len(words[i]) < len(words[j])
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
	return best, best.acc >= minSplitAccuracy && best.n >= minSplitItems && min(helped, len(exs)-helped) >= minSplitSide
}

// classifierSource is the Go source of the code classifier for s. It splits the text into words
// as tokens does (wordSep) and looks for the rule's word among them.
func classifierSource(s split) string {
	present, absent := branchEdited, branchIncumbent
	if !s.edited {
		present, absent = absent, present
	}
	return fmt.Sprintf(`package main

import (
	"strings"
	"unicode"

	"github.com/sgde-project/sgde/wasm/guest"
)

// Written by the sgde compiler from the training items an edit helped and hurt.

const token = %q

const present, absent = %q, %q

func wordSep(r rune) bool {
	return unicode.IsSpace(r) || r == ',' || r == '.' || r == '?' || r == '"' || r == '\''
}

func main() {
	guest.Run(func(in map[string]any) (map[string]any, error) {
		text, _ := in["text"].(string)
		for _, w := range strings.FieldsFunc(text, wordSep) {
			if w == token {
				return map[string]any{"branch": present}, nil
			}
		}
		return map[string]any{"branch": absent}, nil
	})
}
`, s.token, present, absent)
}

// routedPlan builds the plan that runs edited or other by s, with inc's name and inputs. Both
// branches keep their own defaults.
func routedPlan(inc, edited, other *plans.Plan, s split, limits *plans.Limits) (*plans.Plan, error) {
	sub := func(p *plans.Plan, name string) (*plans.Plan, error) {
		q, err := clonePlan(p)
		if err != nil {
			return nil, err
		}
		q.Provenance = nil
		q.Metadata.Name = inc.Metadata.Name + "-" + name
		return q, nil
	}
	e, err := sub(edited, branchEdited)
	if err != nil {
		return nil, err
	}
	i, err := sub(other, branchIncumbent)
	if err != nil {
		return nil, err
	}
	inputs := map[string]string{}
	for _, in := range inc.Inputs {
		inputs[in.Name] = "inputs." + in.Name
	}
	var lim *plans.Limits
	if limits != nil {
		l := *limits
		lim = &l
	}
	r := &plans.Plan{
		APIVersion: plans.APIVersion, Kind: plans.KindPlan,
		Metadata: plans.Metadata{Name: inc.Metadata.Name, Description: "Routed by the compiler: " + s.String()},
		Inputs:   append([]plans.Input(nil), inc.Inputs...),
		Output:   "route",
		Nodes: []plans.Node{
			{ID: "classify", Substrate: plans.SubstrateCode, Description: "router classifier written by the compiler",
				Code: &plans.CodeNode{Source: classifierSource(s), Inputs: map[string]string{"text": "inputs." + s.field},
					Outputs: map[string]plans.Type{"branch": plans.TypeString}, Limits: lim}},
			{ID: "route", Substrate: plans.SubstrateRouter, Router: &plans.RouterNode{On: "classify.branch", Default: branchIncumbent,
				Branches: []plans.Branch{
					{Name: branchEdited, Inputs: inputs, Plan: e},
					{Name: branchIncumbent, Inputs: inputs, Plan: i},
				}}},
		},
	}
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("routed plan: %w", err)
	}
	return r, nil
}

// routerCheck counts misrouted held-out items: the routed run's branch against the branch that
// alone got the item right when each branch's plan ran on every held-out item.
func routerCheck(routed Scores, edited, other []bool) RouterCheck {
	var r RouterCheck
	for i := range routed.Results {
		if i >= len(edited) || i >= len(other) || i >= len(routed.Traces) {
			break
		}
		c, n := edited[i], other[i]
		if c == n {
			continue
		}
		r.Routable++
		want := branchIncumbent
		if c {
			want = branchEdited
		}
		if branchOf(routed, i) != want {
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
// both reached Config.SplitMin: it learns the rule, compiles each partition as its own plan and
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
	ev.Summary = []string{fmt.Sprintf("route between candidate %d and the incumbent: %s", cand.idx+1, s)}
	if !ok {
		ev.Reason = fmt.Sprintf("no input feature separates the items candidate %d helps from those it hurts (best %.0f%% of %d, need %.0f%% of at least %d)", cand.idx+1, 100*s.acc, s.n, 100*minSplitAccuracy, minSplitItems)
		c.emit(ev)
		return nil, Scores{}, false, nil
	}
	ps := c.partitions(iter, s, incumbent, cand.plan, heldout.Bits(), cand.held.Bits())
	for _, p := range ps {
		if err := c.compilePartition(ctx, p); err != nil {
			return nil, Scores{}, false, err
		}
		pe := Event{Iteration: iter, Kind: EventPartition, Partitions: []Partition{p.Partition}}
		c.emit(pe)
	}
	for _, p := range ps {
		ev.Partitions = append(ev.Partitions, p.Partition)
	}
	q, err := routedPlan(incumbent, ps[0].plan, ps[1].plan, s, cfg.CodeLimits)
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
	edBits, err := c.branchHeld(ctx, ps[0], ps[1])
	if err != nil {
		return nil, Scores{}, false, err
	}
	otherBits, err := c.branchHeld(ctx, ps[1], ps[0])
	if err != nil {
		return nil, Scores{}, false, err
	}
	pr, err := stats.Pair(held.Bits(), heldout.Bits())
	if err != nil {
		return nil, Scores{}, false, err
	}
	p := stats.McNemarExact(pr.OnlyA, pr.OnlyB)
	rc := routerCheck(held, edBits, otherBits)
	risk := held.Risk()
	calls, _, _ := held.PerItem()
	ev.HeldoutRisk, ev.PValue, ev.Wins, ev.Losses, ev.CallsPerItem = fptr(risk), fptr(p), pr.OnlyA, pr.OnlyB, fptr(calls)
	ev.Answers = ptrTo(held.Answers())
	ev.RouterAccuracy, ev.Misrouted = fptr(rc.Accuracy()), rc.Misrouted
	route := fmt.Sprintf("router accuracy %.1f%% on the %d held-out items one branch alone gets right (%d misrouted)", 100*rc.Accuracy(), rc.Routable, rc.Misrouted)
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
			heldout[r.ID] = [2]int{rc.Routable, rc.Misrouted}
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
