package teacher

import (
	"context"
	"errors"

	"github.com/sgde-project/sgde/compiler/edit"
	"github.com/sgde-project/sgde/plans"
)

// Teacher proposes candidate edits to a plan from the evidence of its traces.
type Teacher interface {
	// Name identifies the teacher in provenance and logs ("library", "llm:MODEL").
	Name() string
	// Propose returns up to in.K candidates. A teacher whose reply cannot be used returns a
	// Proposal with no candidates and the reason in Problems, not an error: errors are for the
	// run itself failing (cancellation, budget, an unreachable endpoint).
	Propose(ctx context.Context, in Input) (Proposal, error)
}

// Input is everything a teacher sees in one round. It never contains labels' provenance
// beyond the expected value, and never a dataset field other than the plan's inputs.
type Input struct {
	Plan *plans.Plan
	// Nodes holds the evidence per node, in plan order.
	Nodes []NodeEvidence
	// Allowed restricts the actions a candidate may use.
	Allowed []edit.Action
	// K is the number of candidates wanted.
	K int
	// Round is the iteration number, from 1.
	Round int
	// Tried lists digests of candidate plans already evaluated, so that a deterministic
	// teacher does not propose them again.
	Tried map[string]bool
	// Digest computes the digest a candidate plan would have; nil means no de-duplication.
	Digest func(*plans.Plan) string
	// Mixed, when set, is an earlier candidate that helped some training items and hurt
	// others: evidence for a partition of the items (the route edit).
	Mixed *Mixed
}

// Mixed is the evidence that one candidate suits some items and not others: its edits and the
// training items only it got right (Helped) and only the incumbent got right (Hurt), each with
// the plan's inputs and the label; nothing about where an item came from.
type Mixed struct {
	Rationale    string
	Edits        []edit.Edit
	Helped, Hurt []Example
}

// NodeEvidence is how one node behaved on the training batch.
type NodeEvidence struct {
	Node string
	// Failing are examples from items the plan got wrong, Passing from items it got right.
	Failing, Passing []Example
}

// Example is one execution of a node on one training item.
type Example struct {
	Item string `json:"item"`
	// Inputs are the plan's inputs for the item.
	Inputs map[string]any `json:"inputs"`
	// Prompt is the rendered final user message (llm nodes).
	Prompt string `json:"prompt,omitempty"`
	// Raw is the student's reply (llm nodes).
	Raw string `json:"raw,omitempty"`
	// Input is the code node's input object.
	Input any `json:"input,omitempty"`
	// Value is what the node produced; Error why it produced nothing.
	Value any    `json:"value,omitempty"`
	Error string `json:"error,omitempty"`
	// ErrorKind classifies Error ("parse", "fuel_exhausted", ...) where the runtime did.
	ErrorKind string `json:"error_kind,omitempty"`
	// PlanOutput is what the whole plan returned and Expected the label.
	PlanOutput any `json:"plan_output,omitempty"`
	Expected   any `json:"expected"`
}

// Proposal is a teacher's answer for one round.
type Proposal struct {
	// Critique is the semantic gradient: what is wrong with each node, in words.
	Critique   map[string]string
	Candidates []edit.Candidate
	// Tokens is what the teacher spent (0 for the library teacher).
	Tokens int64
	// Problems records why replies were unusable or repaired, for the compile log.
	Problems []string
}

// ErrBudget means the teacher's token budget is spent.
var ErrBudget = errors.New("teacher token budget exhausted")
