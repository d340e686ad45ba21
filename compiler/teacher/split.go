package teacher

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/sgde-project/sgde/compiler/edit"
	"github.com/sgde-project/sgde/compiler/library"
	"github.com/sgde-project/sgde/plans"
)

// This file holds the library teacher's structural actions: split (one step needs language, the
// next only arithmetic) and fuse (the hand-off between two nodes is what breaks). Both are
// diagnosed from the traces alone: the questions and labels the node saw, its values and errors.

// numberWords are the quantities a question may state in words. "a"/"an" state one of a thing.
var numberWords = map[string]int{
	"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
	"eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
	"fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
}

var wordRE = regexp.MustCompile(`[A-Za-z]+|[0-9]+`)

// Bounds of the subset-sum check: questions that state more quantities, or labels above this,
// are not the small tallies a split into extraction and a sum is for.
const (
	maxStated   = 40
	maxTallySum = 10_000
)

// statedQuantities are the whole numbers a question states, in digits or in words.
func statedQuantities(q string) []int {
	var out []int
	for _, w := range wordRE.FindAllString(q, -1) {
		if n, err := strconv.Atoi(w); err == nil {
			out = append(out, n)
		} else if n, ok := numberWords[strings.ToLower(w)]; ok {
			out = append(out, n)
		}
	}
	return out
}

// subsetSums reports whether some subset of qs sums to target (0 <= target <= maxTallySum).
func subsetSums(qs []int, target int) bool {
	reach := make([]bool, target+1)
	reach[0] = true
	for _, q := range qs {
		if q <= 0 || q > target {
			continue
		}
		for s := target; s >= q; s-- {
			if reach[s-q] {
				reach[s] = true
			}
		}
	}
	return reach[target]
}

// tallyFit counts the examples whose label is the sum of some of the quantities their question
// states, and whether the full sum is not always the answer (then choosing which quantities
// count is a step that needs language). ok is false when the evidence is not of that kind at all.
func tallyFit(examples []Example, input string) (fit, tried int, picks bool, ok bool) {
	if len(examples) < 4 {
		return 0, 0, false, false
	}
	for _, ex := range examples {
		q, isStr := ex.Inputs[input].(string)
		label, err := strconv.Atoi(strings.TrimSpace(fmt.Sprint(ex.Expected)))
		if !isStr || err != nil || label < 0 || label > maxTallySum {
			return 0, 0, false, false
		}
		qs := statedQuantities(q)
		if len(qs) > maxStated {
			return 0, 0, false, false
		}
		tried++
		if subsetSums(qs, label) {
			fit++
		}
		total := 0
		for _, x := range qs {
			total += x
		}
		if total != label {
			picks = true
		}
	}
	return fit, tried, picks, true
}

// splitCandidate proposes splitting a node that gets small whole numbers wrong, when every
// label is a sum of some of the quantities its question states: the student names which things
// count and how many of each (language), the vetted tally module adds them (arithmetic). The
// node's id stays on the code half, so consumers keep reading it.
func splitCandidate(n plans.Node, ev NodeEvidence, d diagnosis, refs []string, add func(int, string, ...edit.Edit)) {
	// Only a node that answers with one scalar: an extraction (a JSON parser) or a program is
	// already the language half of such a chain.
	switch n.LLM.Parser.Type {
	case plans.ParserText, plans.ParserRegex, plans.ParserNumber, plans.ParserInteger:
	default:
		return
	}
	if d.wrongValue == 0 || len(refs) != 1 {
		return
	}
	input := strings.TrimPrefix(inputRef.FindStringSubmatch(refs[0])[1], "inputs.")
	fit, tried, picks, ok := tallyFit(allExamples(ev), input)
	if !ok || !picks || float64(fit) < minSolverFit*float64(tried) {
		return
	}
	m := library.Tally()
	extract := n.ID + "_extract"
	add(12, fmt.Sprintf("%s gets %d whole numbers wrong, and on %d of %d training items the answer is a sum of some of the quantities the question states: let the student pick the items and their counts (JSON), and the vetted module %s add them",
		n.ID, d.wrongValue, fit, tried, m.Name),
		edit.Edit{Action: edit.Split, Node: n.ID, As: n.ID, OutputField: m.Result, Into: []plans.Node{
			{ID: extract, Substrate: plans.SubstrateLLM, Description: "extraction half of a split by the compiler",
				// The node's system message and sampling carry over: a split changes the task,
				// not how the student is asked (a greedy node stays greedy).
				LLM: &plans.LLMNode{System: n.LLM.System, Sampling: n.LLM.Sampling, Prompt: library.ExtractCountsPrompt(refs[0]), Parser: plans.Parser{Type: plans.ParserJSON}}},
			{ID: n.ID, Substrate: plans.SubstrateCode, Description: "code half of a split by the compiler",
				Code: &plans.CodeNode{Source: m.Source, Inputs: map[string]string{"counts": extract}, Outputs: m.Outputs}},
		}})
}

// dateSplitCandidate proposes splitting a node that picks wrong options, when the options of
// nearly every training question are calendar dates: which date the question states and how
// far the asked date lies from it is language (the student extracts it as JSON), counting the
// calendar is arithmetic (the vetted date module computes the date and picks its option). The
// node's id stays on the code half, so consumers keep reading it.
func dateSplitCandidate(n plans.Node, ev NodeEvidence, d diagnosis, refs []string, add func(int, string, ...edit.Edit)) {
	switch n.LLM.Parser.Type {
	case plans.ParserText, plans.ParserRegex:
	default:
		return
	}
	if d.wrongValue == 0 || len(refs) != 1 {
		return
	}
	input := strings.TrimPrefix(inputRef.FindStringSubmatch(refs[0])[1], "inputs.")
	examples := allExamples(ev)
	if len(examples) < 4 || shapeOf(examples).kind != "option" {
		return
	}
	fit := 0
	for _, ex := range examples {
		if q, ok := ex.Inputs[input].(string); ok && library.OptionsAreDates(q) {
			fit++
		}
	}
	if float64(fit) < minSolverFit*float64(len(examples)) {
		return
	}
	m := library.DateArith()
	extract := n.ID + "_extract"
	add(12, fmt.Sprintf("%s picks %d wrong options, and on %d of %d training items every option is a calendar date: let the student extract the stated date and the steps to the asked one (JSON), and the vetted module %s count the calendar and pick the option",
		n.ID, d.wrongValue, fit, len(examples), m.Name),
		edit.Edit{Action: edit.Split, Node: n.ID, As: n.ID, OutputField: m.Result, Into: []plans.Node{
			{ID: extract, Substrate: plans.SubstrateLLM, Description: "extraction half of a split by the compiler",
				LLM: &plans.LLMNode{System: n.LLM.System, Sampling: n.LLM.Sampling, Prompt: library.ExtractDatePrompt(refs[0]), Parser: plans.Parser{Type: plans.ParserJSON}}},
			{ID: n.ID, Substrate: plans.SubstrateCode, Description: "code half of a split by the compiler",
				Code: &plans.CodeNode{Source: m.Source, Inputs: map[string]string{"extraction": extract, "question": "inputs." + input}, Outputs: m.Outputs}},
		}})
}

// fuseCandidate proposes fusing a code node with the one llm node that feeds it back into a
// single llm node answering directly, when most failures on the chain are the hand-off itself
// breaking (the llm's reply does not parse, or the code refuses what it got) rather than wrong
// values. The fused node keeps the code node's id, so consumers keep reading it.
func fuseCandidate(p *plans.Plan, c plans.Node, evidence map[string]NodeEvidence, member map[string]string,
	add func(int, string, ...edit.Edit)) {
	if c.Code == nil || member[c.ID] != "" {
		return
	}
	feeder := ""
	for _, r := range c.Code.Inputs {
		node, _, _ := strings.Cut(r, ".")
		switch {
		case node == "inputs":
		case feeder == "" || feeder == node:
			feeder = node
		default:
			return // two feeders: not a chain of two
		}
	}
	i := slices.IndexFunc(p.Nodes, func(n plans.Node) bool { return n.ID == feeder })
	if i < 0 || p.Nodes[i].LLM == nil || member[feeder] != "" || consumers(p, feeder) != 1 || refNode(p.Output) == feeder {
		return
	}
	l := p.Nodes[i]
	refs := dedupe(inputRef.FindAllString(l.LLM.Prompt, -1))
	if len(refs) == 0 || len(inputRef.FindAllString(l.LLM.Prompt, -1)) != len(templateRefs(l.LLM.Prompt)) {
		return // the feeder reads other nodes: fusing would lose them
	}
	lf, cf := evidence[feeder], evidence[c.ID]
	failed := map[string]bool{}
	handoff := map[string]bool{}
	for _, ex := range lf.Failing {
		failed[ex.Item] = true
		if ex.Error != "" {
			handoff[ex.Item] = true
		}
	}
	for _, ex := range cf.Failing {
		failed[ex.Item] = true
		if ex.Error != "" {
			handoff[ex.Item] = true
		}
	}
	if len(failed) < 2 || 2*len(handoff) < len(failed) {
		return
	}
	parser := plans.Parser{Type: plans.ParserText}
	for _, t := range c.Code.Outputs {
		if len(c.Code.Outputs) == 1 && (t == plans.TypeNumber || t == plans.TypeInteger) {
			parser = plans.Parser{Type: plans.ParserNumber}
		}
	}
	prompt := "Answer the question. Reply with only the answer, nothing else.\n\nQ: " + strings.Join(refs, "\n") + "\nA:"
	add(40, fmt.Sprintf("on %d of %d failing items the hand-off from %s to %s broke (unparsed replies or refused input): let one node answer directly",
		len(handoff), len(failed), feeder, c.ID),
		edit.Edit{Action: edit.Fuse, Nodes: []string{feeder, c.ID}, Fused: &plans.Node{ID: c.ID, Substrate: plans.SubstrateLLM,
			Description: "fused by the compiler", LLM: &plans.LLMNode{System: l.LLM.System, Sampling: l.LLM.Sampling, Prompt: prompt, Parser: parser}}})
}

var anyRef = regexp.MustCompile(`\{\{\s*([A-Za-z_][A-Za-z0-9_\-]*(?:\.[A-Za-z0-9_\-]+)*)\s*\}\}`)

// templateRefs are every reference a prompt template renders.
func templateRefs(s string) []string { return anyRef.FindAllString(s, -1) }

func refNode(ref string) string {
	n, _, _ := strings.Cut(ref, ".")
	return n
}

// consumers counts the nodes that read id.
func consumers(p *plans.Plan, id string) int {
	k := 0
	for _, n := range p.Nodes {
		if n.ID == id {
			continue
		}
		reads := false
		if n.Code != nil {
			for _, r := range n.Code.Inputs {
				reads = reads || refNode(r) == id
			}
		}
		if n.LLM != nil {
			for _, m := range anyRef.FindAllStringSubmatch(n.LLM.Prompt+"\n"+n.LLM.System, -1) {
				reads = reads || refNode(m[1]) == id
			}
		}
		if n.Consensus != nil {
			reads = reads || refNode(n.Consensus.Over) == id || slices.Contains(n.Consensus.Members, id)
		}
		if reads {
			k++
		}
	}
	return k
}
