package teacher

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/sgde-project/sgde/compiler/edit"
	"github.com/sgde-project/sgde/compiler/library"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime/metric"
)

// This file holds the library teacher's diagnoses that read answers rather than errors: what
// shape the expected answers have, whether a vetted solver computes them from the question
// alone, whether a node already reasons step by step. Everything here looks at the traces
// (inputs, raw replies, parsed values, labels) and never at a task's or a dataset's name, so the
// same binary handles kinds of questions it has never seen.

// labelShape is the form every expected answer in the evidence takes.
type labelShape struct {
	kind    string   // "option", "choice", "number", "" (free text)
	choices []string // for "choice": the distinct labels seen (Yes/No, True/False, ...)
}

var optionLabelRE = regexp.MustCompile(`^\([A-Z]\)$`)

// shapeOf classifies the expected answers: option letters "(A)", a small closed set of words
// (at most three distinct one-word labels seen at least four times each on average), numbers,
// or free text.
func shapeOf(examples []Example) labelShape {
	var labels []string
	for _, ex := range examples {
		labels = append(labels, strings.TrimSpace(fmt.Sprint(ex.Expected)))
	}
	if len(labels) == 0 {
		return labelShape{}
	}
	all := func(f func(string) bool) bool {
		for _, l := range labels {
			if !f(l) {
				return false
			}
		}
		return true
	}
	switch {
	case all(optionLabelRE.MatchString):
		return labelShape{kind: "option"}
	case all(isNumber):
		return labelShape{kind: "number"}
	}
	distinct := map[string]bool{}
	for _, l := range labels {
		distinct[l] = true
	}
	if len(distinct) <= 3 && len(labels) >= 4*len(distinct) && all(func(s string) bool { return !strings.ContainsAny(s, " \t\n") }) {
		var c []string
		for l := range distinct {
			c = append(c, l)
		}
		sort.Strings(c)
		return labelShape{kind: "choice", choices: c}
	}
	return labelShape{}
}

func isNumber(s string) bool {
	var n json.Number
	return json.Unmarshal([]byte(s), &n) == nil && s != ""
}

// allExamples is the node's failing and passing evidence together.
func allExamples(ev NodeEvidence) []Example {
	return append(append([]Example{}, ev.Failing...), ev.Passing...)
}

// solverFit is how well a vetted solver answers the evidence's questions.
type solverFit struct {
	module        library.Module
	right, tried  int
	refused, rest int
}

// minSolverFit is the share of training items a solver must answer exactly before the teacher
// offers it: a solver that is the right tool is exact, so anything much below that is a solver
// for some other kind of question.
const minSolverFit = 0.9

// fittingSolvers runs every solver natively on the question input of each example and returns
// those that reproduce at least minSolverFit of the expected answers, best first. input is the
// plan input the node's prompt renders.
func fittingSolvers(examples []Example, input string) []solverFit {
	if len(examples) < 4 {
		return nil
	}
	var fits []solverFit
	for _, m := range library.Solvers() {
		f := solverFit{module: m}
		for _, ex := range examples {
			q, ok := ex.Inputs[input].(string)
			if !ok {
				return nil
			}
			f.tried++
			got, err := library.SolveNative(m.Name, q)
			switch {
			case err != nil:
				f.refused++
			case (metric.Exact{}).Score(got, ex.Expected):
				f.right++
			default:
				f.rest++
			}
		}
		if float64(f.right) >= minSolverFit*float64(f.tried) {
			fits = append(fits, f)
		}
	}
	sort.SliceStable(fits, func(i, j int) bool { return fits[i].right > fits[j].right })
	return fits
}

// stepCues are what make a prompt a chain-of-thought prompt.
var stepCues = regexp.MustCompile(`(?i)step[- ]by[- ]step|show (your|the) reasoning|explain your reasoning`)

// reasonsStepByStep reports whether the node already asks for reasoning.
func reasonsStepByStep(l *plans.LLMNode) bool {
	return stepCues.MatchString(l.Prompt) || stepCues.MatchString(l.System)
}

// answerPattern extracts X from the last "the answer is X" of a reply (the form the
// chain-of-thought prompt asks for), without a closing full stop.
const answerPattern = `(?is)^.*the answer is:?\s*(.+?)\s*\.?\s*$`

// cotPrompt asks for step-by-step reasoning ending in a sentence the parser can find, around the
// inputs the node's prompt rendered.
func cotPrompt(refs []string) string {
	var q []string
	for _, r := range refs {
		q = append(q, "Q: "+r)
	}
	return "Answer the question. Think step by step, then end with \"So the answer is X.\" where X is the answer " +
		"exactly in the form the question asks for (an option such as (A), a word, a number or a list).\n\n" +
		strings.Join(q, "\n") + "\nA: Let's think step by step."
}

// shapeParser is a regex parser that takes the last answer of the given shape out of a reply,
// and the format line that asks for it; ok is false for shapes with no such parser.
func shapeParser(s labelShape) (plans.Parser, string, bool) {
	switch s.kind {
	case "option":
		return plans.Parser{Type: plans.ParserRegex, Pattern: `(?s)^.*(\([A-Z]\))`, Group: "1"},
			"End your reply with the answer option in parentheses, for example (A).", true
	case "choice":
		alts := make([]string, len(s.choices))
		for i, c := range s.choices {
			alts[i] = regexp.QuoteMeta(c)
		}
		return plans.Parser{Type: plans.ParserRegex, Pattern: `(?s)^.*\b(` + strings.Join(alts, "|") + `)\b`, Group: "1"},
			"End your reply with exactly one of: " + strings.Join(s.choices, ", ") + ".", true
	}
	return plans.Parser{}, "", false
}

// offShape counts failing replies whose parsed value is not in the expected answers' shape (the
// reply said more than the answer, or said it differently) or did not parse at all.
func offShape(s labelShape, failing []Example) int {
	n := 0
	for _, ex := range failing {
		v := strings.TrimSpace(fmt.Sprint(ex.Value))
		switch {
		case ex.Error != "" && strings.Contains(ex.ErrorKind, "parse"):
			n++
		case ex.Error != "":
		case s.kind == "option" && !optionLabelRE.MatchString(v):
			n++
		case s.kind == "choice" && !containsStr(s.choices, v):
			n++
		}
	}
	return n
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ChainOfThought is the catalogue's chain-of-thought edit for an llm node: the prompt asks for
// step-by-step reasoning around the inputs the node renders, ending in "So the answer is X.", and
// a regex parser takes X out. The suite's chain-of-thought baseline is this edit applied to the
// starting plan; ok is false for nodes that render no plan input.
func ChainOfThought(n plans.Node) (edit.Edit, bool) {
	if n.LLM == nil {
		return edit.Edit{}, false
	}
	refs := dedupe(inputRef.FindAllString(n.LLM.Prompt, -1))
	if len(refs) == 0 {
		return edit.Edit{}, false
	}
	return edit.Edit{Action: edit.RefinePrompt, Node: n.ID, Prompt: cotPrompt(refs), Examples: []plans.Example{},
		Parser: &plans.Parser{Type: plans.ParserRegex, Pattern: answerPattern, Group: "1"}}, true
}
