package edit

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/sgde-project/sgde/plans"
)

// The route action (issue 17): the teacher partitions the items by a rule and gives each part
// its own edits. Applied to a plan P it yields a routed plan whose classifier node decides, per
// item, which branch runs; branch B is P with B's edits applied. It is the edit-schema form of a
// partition proposal: the same plan shape the compiler builds when it learns a split itself.

// MaxRouteBranches bounds the branches a teacher may propose in one route edit: every branch is
// a whole copy of the plan, and a partition finer than this is not learnable from a training
// batch.
const MaxRouteBranches = 8

// Classifier is the node a route edit adds to decide the branch. Its substrate is code (Go
// source in the code-node ABI whose output field names the branch) or llm (a classification
// prompt whose reply is matched against the branch names, plans.RouterNode.Choose).
type Classifier struct {
	Substrate plans.Substrate `json:"substrate"`
	// code: Source reads Inputs and writes the branch name to output field Field ("branch"
	// when empty).
	Source string            `json:"source,omitempty"`
	Inputs map[string]string `json:"inputs,omitempty"`
	Field  string            `json:"output_field,omitempty"`
	Limits *plans.Limits     `json:"limits,omitempty"`
	// llm: Prompt (a template) asks the student which branch fits; System and Examples as on
	// any llm node.
	Prompt   string          `json:"prompt,omitempty"`
	System   string          `json:"system,omitempty"`
	Examples []plans.Example `json:"examples,omitempty"`
	// N > 1 (llm only) asks the classifier N times (temperature 0.7, seeds 1..N) and routes on
	// the plurality of the replies: a consensus classifier.
	N int `json:"n,omitempty"`
}

// RouteBranch is one part of a route edit: its name (what the classifier says to pick it) and
// the edits its copy of the plan gets (none keeps the plan as it is).
type RouteBranch struct {
	Name  string `json:"name"`
	Edits []Edit `json:"edits"`
}

// field is the code classifier's output field.
func (c *Classifier) field() string {
	if c.Field != "" {
		return c.Field
	}
	return "branch"
}

// routeIDs are the ids of the router node and of its classifier.
func (e Edit) routeIDs() (router, classifier string) {
	if e.ID != "" {
		return e.ID, e.ID + "_classify"
	}
	return "route", "classify"
}

func (e Edit) routeSummary() string {
	kind := "?"
	if e.Classifier != nil {
		kind = string(e.Classifier.Substrate)
	}
	parts := make([]string, len(e.Branches))
	for i, b := range e.Branches {
		parts[i] = fmt.Sprintf("%s (%d edits)", b.Name, len(b.Edits))
	}
	return fmt.Sprintf("route by %s classifier into %s; default %s", kind, strings.Join(parts, ", "), e.Default)
}

// validateRoute is Validate for the route action.
func (e Edit) validateRoute(bad func(string, ...any)) {
	if e.Node != "" {
		bad("node: a route edit wraps the whole plan; it takes no node")
	}
	c := e.Classifier
	switch {
	case c == nil:
		bad("classifier: required")
	case c.Substrate == plans.SubstrateCode:
		if strings.TrimSpace(c.Source) == "" {
			bad("classifier.source: required for a code classifier")
		} else if !strings.Contains(c.Source, "package main") {
			bad("classifier.source: must be one Go file in package main")
		}
		if len(c.Inputs) == 0 {
			bad("classifier.inputs: at least one input reference is required")
		}
		if c.Prompt != "" || c.System != "" || c.Examples != nil || c.N != 0 {
			bad("classifier: prompt, system, examples and n are for an llm classifier")
		}
	case c.Substrate == plans.SubstrateLLM:
		if strings.TrimSpace(c.Prompt) == "" {
			bad("classifier.prompt: required for an llm classifier")
		}
		if c.Source != "" || c.Inputs != nil || c.Field != "" || c.Limits != nil {
			bad("classifier: source, inputs, output_field and limits are for a code classifier")
		}
		for i, ex := range c.Examples {
			if ex.User == "" || ex.Assistant == "" {
				bad("classifier.examples[%d]: user and assistant are required", i)
			}
		}
		if c.N != 0 && (c.N < 2 || c.N > 15) {
			bad("classifier.n: must be between 2 and 15 (or absent for one call), got %d", c.N)
		}
	case c.Substrate == "":
		bad("classifier.substrate: required (code or llm)")
	default:
		bad("classifier.substrate: %q, want code or llm", c.Substrate)
	}
	if len(e.Branches) < 2 {
		bad("branches: at least two are required")
	}
	if len(e.Branches) > MaxRouteBranches {
		bad("branches: at most %d, got %d", MaxRouteBranches, len(e.Branches))
		return
	}
	seen, exact := map[string]bool{}, map[string]bool{}
	for i, b := range e.Branches {
		at := fmt.Sprintf("branches[%d]", i)
		switch {
		case b.Name == "":
			bad("%s.name: required", at)
		case !branchName(b.Name):
			bad("%s.name: %q must be letters, digits, _ and - (starting with a letter or _), at most 64", at, b.Name)
		case seen[strings.ToLower(b.Name)]:
			bad("%s.name: %q is used twice (names are compared ignoring case)", at, b.Name)
		}
		seen[strings.ToLower(b.Name)], exact[b.Name] = true, true
		for j, be := range b.Edits {
			if be.Action == Route {
				bad("%s.edits[%d]: a branch cannot be routed again in the same edit", at, j)
				continue
			}
			for _, p := range be.Validate() {
				bad("%s.edits[%d].%s", at, j, p)
			}
		}
	}
	switch {
	case e.Default == "":
		bad("default: required: the branch that runs when the classifier names none")
	case !exact[e.Default]:
		bad("default: %q is not among branches", e.Default)
	}
	if e.Prompt != "" || e.Source != "" || e.Into != nil || e.Nodes != nil || e.Fused != nil || e.Members != nil {
		bad("route: only classifier, branches, default and id apply")
	}
}

// branchName is plans' identifier rule for branch names.
func branchName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
		case i > 0 && (r == '-' || r >= '0' && r <= '9'):
		default:
			return false
		}
	}
	return true
}

// route replaces p by the routed plan e describes. p is the plan as edited so far; each branch
// gets a copy of it with the branch's edits applied, checked on its own so that an error names
// the branch.
func route(p *plans.Plan, e Edit) error {
	routerID, classID := e.routeIDs()
	branches := make([]plans.Branch, len(e.Branches))
	inputs := map[string]string{}
	for _, in := range p.Inputs {
		inputs[in.Name] = "inputs." + in.Name
	}
	for i, b := range e.Branches {
		sub, err := clone(p)
		if err != nil {
			return err
		}
		for j, be := range b.Edits {
			if err := applyOne(sub, be); err != nil {
				return fmt.Errorf("branch %q: edit %d (%s): %w", b.Name, j, be.Summary(), err)
			}
		}
		sub.Provenance = nil
		sub.Metadata = plans.Metadata{Name: p.Metadata.Name + "-" + b.Name, Description: p.Metadata.Description}
		if err := Check(sub); err != nil {
			return invalidf("branch %q: %v", b.Name, err)
		}
		branches[i] = plans.Branch{Name: b.Name, Inputs: maps(inputs), Plan: sub}
	}
	c := e.Classifier
	class := plans.Node{ID: classID, Description: "router classifier proposed by the teacher"}
	on := classID
	switch c.Substrate {
	case plans.SubstrateCode:
		class.Substrate = plans.SubstrateCode
		class.Code = &plans.CodeNode{Source: c.Source, Inputs: maps(c.Inputs),
			Outputs: map[string]plans.Type{c.field(): plans.TypeString}, Limits: c.Limits}
		on = classID + "." + c.field()
	default:
		class.Substrate = plans.SubstrateLLM
		var ex []plans.Example
		if len(c.Examples) > 0 {
			ex = append(ex, c.Examples...)
		}
		class.LLM = &plans.LLMNode{Prompt: c.Prompt, System: c.System, Examples: ex, Parser: plans.Parser{Type: plans.ParserText}}
	}
	nodes := []plans.Node{class}
	if c.N > 1 {
		// A consensus over the llm classifier: the router reads the most frequent reply.
		seeds := make([]int64, c.N)
		for i := range seeds {
			seeds[i] = int64(i + 1)
		}
		on = classID + "_vote"
		nodes = append(nodes, plans.Node{ID: on, Substrate: plans.SubstrateConsensus, Description: "votes over the router classifier",
			Consensus: &plans.ConsensusNode{Members: []string{classID}, Over: classID, N: c.N,
				Perturbations: plans.Perturbations{Temperatures: []float64{0.7}, Seeds: seeds},
				Vote:          plans.Vote{Method: plans.VotePlurality, TieBreak: plans.TieFirst, Normalize: "text"}}})
	}
	// Every branch repeats the plan: the routed plan must still fit in a plan file, or the
	// compiled plan could not be loaded again.
	size := 0
	for _, b := range branches {
		j, err := json.Marshal(b.Plan)
		if err != nil {
			return fmt.Errorf("branch %q: %w", b.Name, err)
		}
		size += len(j)
	}
	if size > plans.MaxPlanBytes {
		return invalidf("the routed plan's %d branches hold %d bytes, more than a plan file may (%d)", len(branches), size, plans.MaxPlanBytes)
	}
	*p = plans.Plan{
		APIVersion: p.APIVersion, Kind: p.Kind, Metadata: p.Metadata,
		Inputs: append([]plans.Input(nil), p.Inputs...), Output: routerID, Defaults: p.Defaults,
		Nodes: append(nodes, plans.Node{ID: routerID, Substrate: plans.SubstrateRouter, Description: "router proposed by the teacher",
			Router: &plans.RouterNode{On: on, Default: e.Default, Branches: branches}}),
	}
	return nil
}
