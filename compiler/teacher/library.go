package teacher

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/sgde-project/sgde/compiler/edit"
	"github.com/sgde-project/sgde/compiler/library"
	"github.com/sgde-project/sgde/compiler/synth"
	"github.com/sgde-project/sgde/plans"
)

// Library is the offline, deterministic teacher: it reads the traces, diagnoses each node, and
// proposes entries of the vetted catalogue (package library) in a fixed order of priority. The
// same plan and traces always give the same candidates in the same order.
type Library struct {
	// Synthesis makes the teacher search for a program over vetted primitives that reproduces
	// the training labels from the plan input (package synth) and propose it as a code node.
	Synthesis bool
	// SynthOptions bounds that search (zero: synth's defaults).
	SynthOptions synth.Options
	// NoCatalogue leaves out the catalogue's code modules (vetted solvers and the program
	// evaluator), so that only synthesised code is proposed.
	NoCatalogue bool
}

// NewLibrary returns the library teacher.
func NewLibrary() Library { return Library{} }

// Name implements Teacher.
func (l Library) Name() string {
	switch {
	case l.Synthesis && l.NoCatalogue:
		return "synth"
	case l.Synthesis:
		return "library+synth"
	}
	return "library"
}

// diagnosis is what the traces say about one node.
type diagnosis struct {
	fail, pass int
	wrongValue int // produced a value, but the plan was wrong
	parseErr   int // the reply could not be parsed
	otherErr   int
}

func diagnose(ev NodeEvidence) diagnosis {
	d := diagnosis{fail: len(ev.Failing), pass: len(ev.Passing)}
	for _, ex := range ev.Failing {
		switch {
		case ex.Error == "":
			d.wrongValue++
		case strings.Contains(ex.ErrorKind, "parse"):
			d.parseErr++
		default:
			d.otherErr++
		}
	}
	return d
}

var inputRef = regexp.MustCompile(`\{\{\s*(inputs\.[A-Za-z0-9_\-]+)\s*\}\}`)

// Propose implements Teacher. Candidates come in this order: full offload to a vetted solver,
// offload arithmetic to the program evaluator (largest expected gain when a node's failures are
// wrong numbers), a split into extraction and a vetted module (the tally module when labels are
// sums of some stated quantities, the date module when the options are calendar dates), chain of
// thought, an explicit answer shape or format line (when
// replies fail to parse), consensus of 3 samples (grown to 5 and 7 in later rounds while it keeps
// paying), fusing an llm→code chain whose hand-off breaks, and few-shot demonstrations
// bootstrapped from the student's own successful traces. Candidates whose plan
// was already tried are skipped, so that later rounds move on to the next catalogue entry.
func (l Library) Propose(ctx context.Context, in Input) (Proposal, error) {
	if err := ctx.Err(); err != nil {
		return Proposal{}, err
	}
	if in.Plan == nil {
		return Proposal{}, fmt.Errorf("library teacher: no plan")
	}
	allowed := func(a edit.Action) bool { return in.Allowed == nil || slices.Contains(in.Allowed, a) }
	evidence := map[string]NodeEvidence{}
	for _, ev := range in.Nodes {
		evidence[ev.Node] = ev
	}
	member := map[string]string{}
	for _, n := range in.Plan.Nodes {
		if n.Consensus != nil {
			for _, m := range n.Consensus.Members {
				member[m] = n.ID
			}
		}
	}
	type ranked struct {
		prio  int
		group string
		c     edit.Candidate
	}
	var cands []ranked
	add := func(prio int, why string, edits ...edit.Edit) {
		// Candidates of one group (the consensus sizes for one node) are alternatives: only the
		// first untried one is proposed in a round, so a larger size is paid for only after the
		// smaller one was tried.
		if l.NoCatalogue && slices.ContainsFunc(edits, catalogueEdit) {
			return
		}
		group := ""
		if len(edits) == 1 && edits[0].Action == edit.Consensus {
			group = "consensus:" + edits[0].Node
		}
		cands = append(cands, ranked{prio, group, edit.Candidate{Rationale: why, Edits: edits}})
	}
	critique := map[string]string{}
	for _, n := range in.Plan.Nodes {
		ev := evidence[n.ID]
		d := diagnose(ev)
		critique[n.ID] = critiqueOf(n, d)
		switch {
		case n.LLM != nil:
			if l.Synthesis {
				e, report, ok := l.synthesize(ctx, in.Plan, n, ev, member[n.ID], allowed)
				if report != "" {
					critique[n.ID] += "; " + report
				}
				if ok {
					add(7, fmt.Sprintf("a program synthesised from the training pairs reproduces every label of %s: %s", n.ID, report), e)
				}
			}
			llmCandidates(in.Plan, n, ev, d, member[n.ID], allowed, add)
		case n.Code != nil && allowed(edit.Fuse):
			fuseCandidate(in.Plan, n, evidence, member, add)
		case n.Consensus != nil && allowed(edit.Consensus) && d.fail > 0:
			for _, size := range library.ConsensusSizes() {
				if size > n.Consensus.N {
					add(30+size, fmt.Sprintf("%s still fails on %d of %d items: more samples", n.ID, d.fail, d.fail+d.pass),
						edit.Edit{Action: edit.Consensus, Node: n.ID, N: size, Perturbations: ptr(library.Perturbations(size)), Vote: ptr(n.Consensus.Vote)})
				}
			}
		}
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].prio < cands[j].prio })
	var out []edit.Candidate
	used := map[string]bool{}
	for _, rc := range cands {
		if len(out) >= max(in.K, 1) {
			break
		}
		if rc.group != "" && used[rc.group] {
			continue
		}
		if in.Digest != nil && in.Tried != nil {
			q, err := edit.Apply(in.Plan, rc.c.Edits...)
			if err != nil {
				continue // the catalogue entry does not fit this plan
			}
			if in.Tried[in.Digest(q)] {
				continue
			}
		}
		out = append(out, rc.c)
		if rc.group != "" {
			used[rc.group] = true
		}
	}
	return Proposal{Critique: critique, Candidates: out}, nil
}

func ptr[T any](v T) *T { return &v }

func critiqueOf(n plans.Node, d diagnosis) string {
	total := d.fail + d.pass
	if total == 0 {
		return "no evidence: the node did not run on the training batch"
	}
	if d.fail == 0 {
		return fmt.Sprintf("correct on all %d items", total)
	}
	var parts []string
	if d.wrongValue > 0 {
		what := "a wrong value"
		if n.LLM != nil && (n.LLM.Parser.Type == plans.ParserNumber || n.LLM.Parser.Type == plans.ParserInteger) {
			what = "a wrong number (arithmetic the student does in its head)"
		}
		parts = append(parts, fmt.Sprintf("%d produced %s", d.wrongValue, what))
	}
	if d.parseErr > 0 {
		parts = append(parts, fmt.Sprintf("%d replies could not be parsed (output format not followed)", d.parseErr))
	}
	if d.otherErr > 0 {
		parts = append(parts, fmt.Sprintf("%d failed with an error", d.otherErr))
	}
	return fmt.Sprintf("on the path of %d wrong items out of %d: %s", d.fail, total, strings.Join(parts, "; "))
}

func llmCandidates(p *plans.Plan, n plans.Node, ev NodeEvidence, d diagnosis, inConsensus string,
	allowed func(edit.Action) bool, add func(int, string, ...edit.Edit)) {
	if d.fail == 0 {
		return
	}
	refs := dedupe(inputRef.FindAllString(n.LLM.Prompt, -1))
	examples := allExamples(ev)
	shape := shapeOf(examples)
	numericParser := n.LLM.Parser.Type == plans.ParserNumber || n.LLM.Parser.Type == plans.ParserInteger
	numeric := numericParser ||
		(shape.kind == "number" && (n.LLM.Parser.Type == plans.ParserText || n.LLM.Parser.Type == plans.ParserRegex))
	// Full offload: a vetted solver computes the expected answers from the question alone, so
	// the node needs no student call at all.
	if inConsensus == "" && allowed(edit.Offload) && len(refs) == 1 {
		input := strings.TrimPrefix(inputRef.FindStringSubmatch(refs[0])[1], "inputs.")
		for i, f := range fittingSolvers(examples, input) {
			if i == 2 {
				break
			}
			add(5+i, fmt.Sprintf("the vetted solver %s computes the expected answer from %s alone on %d of %d training items (%d refused): run it as a code node, no student call",
				f.module.Name, input, f.right, f.tried, f.refused),
				edit.Edit{Action: edit.Offload, Node: n.ID, Source: f.module.Source,
					Inputs:  map[string]string{"question": "inputs." + input},
					Outputs: f.module.Outputs, OutputField: f.module.Result})
		}
	}
	if numeric && inConsensus == "" && allowed(edit.Offload) && len(refs) > 0 && d.wrongValue+d.parseErr > 0 {
		m := library.ArithProgram()
		off := edit.Edit{
			Action: edit.Offload, Node: n.ID, ID: n.ID + "_eval",
			Prompt:      library.ProgramPrompt(strings.Join(refs, "\n")),
			Parser:      &plans.Parser{Type: plans.ParserCode},
			Examples:    []plans.Example{},
			Source:      m.Source,
			Inputs:      map[string]string{"program": n.ID},
			Outputs:     m.Outputs,
			OutputField: m.Result,
		}
		add(10, fmt.Sprintf("%s gets %d numbers wrong: let the student write the program and the sandbox do the arithmetic", n.ID, d.wrongValue), off)
		// The same with a vote over programs from the start: a student that writes a wrong
		// program now and then errs differently per sample, and a compile that first adopted
		// another fix (reasoning step by step, say) would otherwise never compare against it.
		// Nodes with a number parser (word-problem plans) keep their established path: offload
		// first, then consensus grown round by round.
		if allowed(edit.Consensus) && !numericParser {
			size := library.ConsensusSizes()[1]
			add(11, fmt.Sprintf("%s gets %d numbers wrong: programs evaluated in the sandbox, %d samples voting", n.ID, d.wrongValue, size), off,
				edit.Edit{Action: edit.Consensus, Node: n.ID, Members: []string{n.ID, off.ID}, N: size,
					Perturbations: ptr(library.Perturbations(size)), Vote: ptr(library.Vote(plans.TypeNumber))})
		}
	}
	if inConsensus == "" && allowed(edit.Split) {
		splitCandidate(n, ev, d, refs, add)
		dateSplitCandidate(n, ev, d, refs, add)
	}
	// Chain of thought: the node answers in one step and gets values wrong; ask for reasoning
	// and take the answer out of its last sentence. Held-out risk decides whether it helps.
	textual := n.LLM.Parser.Type == plans.ParserText || n.LLM.Parser.Type == plans.ParserRegex
	if allowed(edit.RefinePrompt) && textual && d.wrongValue > 0 && len(refs) > 0 && !reasonsStepByStep(n.LLM) {
		if e, ok := ChainOfThought(n); ok {
			add(15, fmt.Sprintf("%s answers in one step and %d of %d answers are wrong: reason step by step, then parse the answer from \"the answer is X\"", n.ID, d.wrongValue, d.fail+d.pass), e)
		}
	}
	// Answer format: every label has one shape (an option letter, one of a few words) but
	// replies come out in another; parse the shape from the reply and ask for it.
	if allowed(edit.RefinePrompt) && textual {
		if parser, line, ok := shapeParser(shape); ok && offShape(shape, ev.Failing) > 0 && !strings.Contains(n.LLM.Prompt, line) {
			add(20, fmt.Sprintf("every expected answer of %s is a %s, but %d failing replies are not: parse that shape and ask for it", n.ID, shape.kind, offShape(shape, ev.Failing)),
				edit.Edit{Action: edit.RefinePrompt, Node: n.ID, Prompt: strings.TrimRight(n.LLM.Prompt, "\n") + "\n\n" + line, Parser: &parser})
		}
	}
	if allowed(edit.RefinePrompt) && d.parseErr > 0 && !library.HasFormatLine(n.LLM.Prompt, n.LLM.Parser.Type) && library.FormatLine(n.LLM.Parser.Type) != "" {
		add(20, fmt.Sprintf("%d replies of %s did not parse: state the output format explicitly", d.parseErr, n.ID),
			edit.Edit{Action: edit.RefinePrompt, Node: n.ID, Prompt: strings.TrimRight(n.LLM.Prompt, "\n") + "\n\n" + library.FormatLine(n.LLM.Parser.Type)})
	}
	if allowed(edit.Consensus) && inConsensus == "" {
		members := chain(p, n.ID)
		vt := chainValueType(p, members, numericParser)
		for _, size := range library.ConsensusSizes() {
			add(30+size, fmt.Sprintf("%s errs on %d of %d items, often differently per sample: vote over %d samples", n.ID, d.fail, d.fail+d.pass, size),
				edit.Edit{Action: edit.Consensus, Node: n.ID, Members: members, N: size,
					Perturbations: ptr(library.Perturbations(size)), Vote: ptr(library.Vote(vt))})
		}
	}
	if allowed(edit.RefinePrompt) && len(n.LLM.Examples) == 0 {
		if demos := bootstrap(ev.Passing); len(demos) >= 2 {
			add(50, fmt.Sprintf("add %d demonstrations of %s from the student's own correct traces", len(demos), n.ID),
				edit.Edit{Action: edit.RefinePrompt, Node: n.ID, Examples: demos})
		}
	}
}

// chainValueType is the type of the value a vote over members compares: the llm node's own
// (a number under a numeric parser) when it votes alone, else the type of the last code node's
// outputs (a number only when they all are: a tally's count, a program's value; a picked option
// is a string, and a number vote over it would be an invalid plan).
func chainValueType(p *plans.Plan, members []string, numericParser bool) plans.Type {
	last := p.Node(members[len(members)-1])
	if len(members) == 1 || last == nil || last.Code == nil || len(last.Code.Outputs) == 0 {
		if numericParser {
			return plans.TypeNumber
		}
		return plans.TypeString
	}
	for _, t := range last.Code.Outputs {
		if t != plans.TypeNumber && t != plans.TypeInteger {
			return plans.TypeString
		}
	}
	return plans.TypeNumber
}

// chain returns the node and the code nodes that consume only it, transitively: the members a
// consensus must replicate so that the vote is over the chain's final value.
func chain(p *plans.Plan, id string) []string {
	out := []string{id}
	for {
		last := out[len(out)-1]
		next := ""
		for _, n := range p.Nodes {
			if n.Code == nil || slices.Contains(out, n.ID) {
				continue
			}
			reads, only := false, true
			for _, r := range n.Code.Inputs {
				node, _, _ := strings.Cut(r, ".")
				if node == last {
					reads = true
				} else if node != "inputs" {
					only = false
				}
			}
			if reads && only {
				next = n.ID
				break
			}
		}
		if next == "" {
			return out
		}
		out = append(out, next)
	}
}

// bootstrap picks up to library.MaxDemos passing traces, in item order, as demonstrations:
// the student's rendered prompt and its own reply (the DSPy BootstrapFewShot idea).
func bootstrap(passing []Example) []plans.Example {
	ex := slices.Clone(passing)
	sort.SliceStable(ex, func(i, j int) bool { return ex[i].Item < ex[j].Item })
	var demos []plans.Example
	for _, e := range ex {
		if e.Prompt == "" || strings.TrimSpace(e.Raw) == "" || len(e.Raw) > 4000 {
			continue
		}
		demos = append(demos, plans.Example{User: e.Prompt, Assistant: e.Raw})
		if len(demos) == library.MaxDemos {
			break
		}
	}
	return demos
}

// Bootstrap exposes the demonstration picker for the few-shot baseline.
func Bootstrap(passing []Example) []plans.Example { return bootstrap(passing) }

func dedupe(s []string) []string {
	var out []string
	for _, x := range s {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}
