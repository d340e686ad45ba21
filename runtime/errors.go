package runtime

import (
	"errors"
	"fmt"
)

// Error kinds. A NodeError's Kind is one of these, or "code_" followed by a sandbox kind
// (code_trap, code_fuel_exhausted, code_memory_limit, code_timeout, code_guest_error, ...).
const (
	KindInput              = "input_error"          // a plan input is missing, unknown or mistyped
	KindParse              = "parse_failure"        // the student's reply did not parse
	KindMissingField       = "missing_field"        // a reference named a field the value lacks
	KindStudentUnavailable = "student_unavailable"  // endpoint unreachable or kept failing
	KindStudentRejected    = "student_rejected"     // endpoint refused the request (4xx)
	KindStudentBadResponse = "student_bad_response" // endpoint answered with garbage
	KindCacheMiss          = "cache_miss"           // replay mode and the response is not cached
	KindCacheCorrupt       = "cache_corrupt"        // replay mode and the cached entry failed its checksum
	KindTimeout            = "timeout"              // the node's own timeout expired
	KindCanceled           = "canceled"             // the caller cancelled the run
	KindNoConsensus        = "no_consensus"         // samples produced values but no winner
	KindBuild              = "build_error"          // a code node failed to build or load
	KindCodeBadOutput      = "code_bad_output"      // the code node's output broke its declaration
	KindPlan               = "plan_error"           // the plan cannot run as written
	KindInternal           = "internal_error"
)

// NodeError says which node failed and why. Every error Run returns for a failed run is a
// *NodeError (input problems name the input as "inputs.NAME").
type NodeError struct {
	NodeID string
	Kind   string
	Err    error
}

// Error formats the error as node "ID": KIND: cause.
func (e *NodeError) Error() string {
	if e.NodeID == "" {
		return fmt.Sprintf("%s: %v", e.Kind, e.Err)
	}
	return fmt.Sprintf("node %q: %s: %v", e.NodeID, e.Kind, e.Err)
}

// Unwrap exposes the cause (a sandbox, student, cache or parse error) to errors.Is and As.
func (e *NodeError) Unwrap() error { return e.Err }

// KindOf returns the kind of err: the Kind of the *NodeError it wraps, KindCanceled for context
// errors, KindInternal for anything else, and "" for nil.
func KindOf(err error) string {
	if err == nil {
		return ""
	}
	var ne *NodeError
	if errors.As(err, &ne) {
		return ne.Kind
	}
	if isContextErr(err) {
		return KindCanceled
	}
	return KindInternal
}

func nodeErr(id, kind string, err error) *NodeError {
	return &NodeError{NodeID: id, Kind: kind, Err: err}
}

// retryable reports whether a failure of kind may go away when the node is executed again.
// Code nodes are deterministic, so their failures are not retried; nor are missing fields,
// which depend only on values the node reads.
func retryable(kind string) bool {
	switch kind {
	case KindParse, KindStudentUnavailable, KindStudentBadResponse, KindTimeout:
		return true
	}
	return false
}
