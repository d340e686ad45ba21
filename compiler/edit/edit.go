package edit

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sgde-project/sgde/plans"
)

// Action names an edit. The six actions are the compiler's whole vocabulary.
type Action string

// The actions a teacher may propose.
const (
	RefinePrompt Action = "refine_prompt"
	Offload      Action = "offload"
	Consensus    Action = "consensus"
	Split        Action = "split"
	Fuse         Action = "fuse"
	// Route partitions the items by a classifier and gives each part its own edits (route.go).
	Route Action = "route"
)

// Actions lists every action in the order documentation and flags use.
func Actions() []Action { return []Action{RefinePrompt, Offload, Consensus, Split, Fuse, Route} }

// ParseActions reads a comma-separated list such as "offload,consensus". "prompt" is accepted
// as a short name for refine_prompt.
func ParseActions(s string) ([]Action, error) {
	var out []Action
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		a := Action(f)
		if f == "prompt" {
			a = RefinePrompt
		}
		if !slices.Contains(Actions(), a) {
			return nil, fmt.Errorf("unknown action %q (want prompt, offload, consensus, split, fuse or route)", f)
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no action given")
	}
	return out, nil
}

// Edit is one change to a plan. Action selects which fields apply; Validate says which are
// required. Every edit addresses nodes by id and never mutates the plan it is applied to.
type Edit struct {
	Action Action `json:"action"`
	// Node is the node the edit targets (all actions but fuse).
	Node string `json:"node,omitempty"`

	// refine_prompt: fields left empty keep their current value. Examples replaces the
	// demonstrations when non-nil (an empty list removes them).
	Prompt   string          `json:"prompt,omitempty"`
	System   string          `json:"system,omitempty"`
	Examples []plans.Example `json:"examples,omitempty"`
	Parser   *plans.Parser   `json:"parser,omitempty"`

	// offload: Source is Go source in the code-node ABI (package main, guest.Run). Without
	// Prompt the node itself becomes a code node with the same id. With Prompt the llm node is
	// kept, re-prompted (for example to write a program), and a new code node ID, fed by Inputs,
	// takes its place for every consumer; OutputField then names the code output that replaces
	// the llm node's value.
	Source      string                `json:"source,omitempty"`
	Inputs      map[string]string     `json:"inputs,omitempty"`
	Outputs     map[string]plans.Type `json:"outputs,omitempty"`
	OutputField string                `json:"output_field,omitempty"`
	Limits      *plans.Limits         `json:"limits,omitempty"`

	// consensus: Members defaults to [Node]; Over defaults to the last member (with
	// OutputField when the last member is a code node).
	Members       []string             `json:"members,omitempty"`
	Over          string               `json:"over,omitempty"`
	N             int                  `json:"n,omitempty"`
	Perturbations *plans.Perturbations `json:"perturbations,omitempty"`
	Vote          *plans.Vote          `json:"vote,omitempty"`

	// ID names the node an edit creates (offload with Prompt, consensus, fuse). A default is
	// derived from Node when empty.
	ID string `json:"id,omitempty"`

	// split: Into replaces Node; As is the id among Into whose value consumers of Node now
	// read (default: the last of Into), or its field OutputField when that is set (a code node
	// whose answer is one field of its output).
	Into []plans.Node `json:"into,omitempty"`
	As   string       `json:"as,omitempty"`

	// fuse: Nodes are replaced by the single node Fused; consumers of any of them read Fused.
	Nodes []string    `json:"nodes,omitempty"`
	Fused *plans.Node `json:"fused,omitempty"`

	// route: Classifier picks one of Branches per item (Default when it names none); each
	// branch is the plan with that branch's edits applied. ID names the router node ("route";
	// the classifier is ID_classify, or "classify").
	Classifier *Classifier   `json:"classifier,omitempty"`
	Branches   []RouteBranch `json:"branches,omitempty"`
	Default    string        `json:"default,omitempty"`
}

// Summary is a one-line description of the edit for logs and reports.
func (e Edit) Summary() string {
	switch e.Action {
	case RefinePrompt:
		var parts []string
		if e.Prompt != "" {
			parts = append(parts, "prompt")
		}
		if e.System != "" {
			parts = append(parts, "system")
		}
		if e.Examples != nil {
			parts = append(parts, fmt.Sprintf("%d examples", len(e.Examples)))
		}
		if e.Parser != nil {
			parts = append(parts, "parser "+string(e.Parser.Type))
		}
		return fmt.Sprintf("refine_prompt %s (%s)", e.Node, strings.Join(parts, ", "))
	case Offload:
		if e.Prompt != "" {
			return fmt.Sprintf("offload %s to code node %s (%d bytes of Go)", e.Node, e.newID(), len(e.Source))
		}
		return fmt.Sprintf("offload %s (%d bytes of Go)", e.Node, len(e.Source))
	case Consensus:
		vote := ""
		if e.Vote != nil {
			vote = string(e.Vote.Method)
		}
		return fmt.Sprintf("consensus over %s n=%d vote=%s", strings.Join(e.members(), "+"), e.N, vote)
	case Split:
		ids := make([]string, len(e.Into))
		for i, n := range e.Into {
			ids[i] = n.ID
		}
		return fmt.Sprintf("split %s into %s", e.Node, strings.Join(ids, ", "))
	case Fuse:
		id := ""
		if e.Fused != nil {
			id = e.Fused.ID
		}
		return fmt.Sprintf("fuse %s into %s", strings.Join(e.Nodes, ", "), id)
	case Route:
		return e.routeSummary()
	}
	return string(e.Action)
}

func (e Edit) members() []string {
	if len(e.Members) > 0 {
		return e.Members
	}
	return []string{e.Node}
}

func (e Edit) newID() string {
	if e.ID != "" {
		return e.ID
	}
	switch e.Action {
	case Offload:
		return e.Node + "_code"
	case Consensus:
		return e.Node + "_vote"
	}
	return e.Node
}

// ErrInvalid is wrapped by every error that says an edit does not fit the schema or the plan.
var ErrInvalid = errors.New("invalid edit")

// Validate checks an edit against the schema, without a plan: required fields, ranges and the
// fields an action may not carry. It returns every problem found, each prefixed with its field.
func (e Edit) Validate() []string {
	var errs []string
	bad := func(f string, a ...any) { errs = append(errs, fmt.Sprintf(f, a...)) }
	if e.Action != Fuse && e.Action != Route && e.Node == "" {
		bad("node: required")
	}
	switch e.Action {
	case RefinePrompt:
		if e.Prompt == "" && e.System == "" && e.Examples == nil && e.Parser == nil {
			bad("refine_prompt: at least one of prompt, system, examples, parser is required")
		}
		for i, ex := range e.Examples {
			if ex.User == "" || ex.Assistant == "" {
				bad("examples[%d]: user and assistant are required", i)
			}
		}
		if len(e.Examples) > 16 {
			bad("examples: at most 16, got %d", len(e.Examples))
		}
		if e.Parser != nil && e.Parser.Type == "" {
			bad("parser.type: required")
		}
	case Offload:
		if strings.TrimSpace(e.Source) == "" {
			bad("source: required")
		} else if !strings.Contains(e.Source, "package main") {
			bad("source: must be one Go file in package main")
		}
		if len(e.Inputs) == 0 {
			bad("inputs: at least one input reference is required")
		}
		if len(e.Outputs) == 0 {
			bad("outputs: at least one output field is required")
		}
		if e.Prompt != "" && e.OutputField == "" && len(e.Outputs) != 1 {
			bad("output_field: required when the code node has several outputs")
		}
		if e.OutputField != "" {
			if _, ok := e.Outputs[e.OutputField]; !ok {
				bad("output_field: %q is not among outputs", e.OutputField)
			}
		}
	case Consensus:
		if e.N < 2 || e.N > 15 {
			bad("n: must be between 2 and 15, got %d", e.N)
		}
		if e.Vote == nil || e.Vote.Method == "" {
			bad("vote.method: required")
		} else {
			switch e.Vote.Method {
			case plans.VoteMajority, plans.VotePlurality, plans.VoteMedian, plans.VoteFirstValid:
			default:
				bad("vote.method: unknown %q", e.Vote.Method)
			}
		}
	case Split:
		if len(e.Into) < 2 {
			bad("into: at least two nodes are required")
		}
		if e.As != "" && !slices.ContainsFunc(e.Into, func(n plans.Node) bool { return n.ID == e.As }) {
			bad("as: %q is not among into", e.As)
		}
	case Fuse:
		if len(e.Nodes) < 2 {
			bad("nodes: at least two nodes are required")
		}
		if e.Fused == nil || e.Fused.ID == "" {
			bad("fused: a node with an id is required")
		}
	case Route:
		e.validateRoute(bad)
	case "":
		bad("action: required")
	default:
		bad("action: unknown %q (want refine_prompt, offload, consensus, split, fuse or route)", e.Action)
	}
	return errs
}
