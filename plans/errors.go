package plans

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ValidationError is one problem found in a plan. It says where the problem is precisely enough
// for a user to go and fix it: the file, the line (YAML and JSON), the node and the field.
type ValidationError struct {
	// File is the plan file as given to Load or Parse; empty for plans built in memory.
	File string
	// Line is 1-based; 0 when unknown (plans built in memory, or a problem of the whole file).
	Line int
	// NodeID is the node the problem belongs to; empty for plan-level problems.
	NodeID string
	// Field is the dotted path of the offending field, e.g. "nodes[2].code.path".
	Field string
	// Message says what is wrong, lower case, without trailing punctuation.
	Message string
}

// Error formats the error as FILE:LINE: node "ID": MESSAGE, leaving out what is unknown.
func (e *ValidationError) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	case e.File != "":
		fmt.Fprintf(&b, "%s: ", e.File)
	case e.Line > 0:
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.NodeID != "" {
		fmt.Fprintf(&b, "node %q: ", e.NodeID)
	}
	b.WriteString(e.Message)
	return b.String()
}

// Is makes errors.Is(err, ErrInvalid) true for every validation error.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// ErrInvalid matches (with errors.Is) every error that says a plan is malformed, as opposed to
// an I/O error reading it.
var ErrInvalid = errors.New("invalid plan")

// ErrorList is every problem found in one plan, sorted by line. Validation collects all problems
// instead of stopping at the first so that one edit-validate cycle fixes as much as possible.
type ErrorList []*ValidationError

// Error prints one problem per line.
func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap exposes the individual errors to errors.Is and errors.As.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// Is makes errors.Is(list, ErrInvalid) true even for an empty list.
func (l ErrorList) Is(target error) bool { return target == ErrInvalid }

// sort orders the list by line, then field, then message, and drops exact duplicates.
func (l ErrorList) sorted() ErrorList {
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i], l[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Field != b.Field {
			return a.Field < b.Field
		}
		return a.Message < b.Message
	})
	out := l[:0]
	for i, e := range l {
		if i > 0 && *e == *l[i-1] {
			continue
		}
		out = append(out, e)
	}
	return out
}

// errs accumulates validation errors for one plan.
type errs struct {
	file string
	pos  positions
	list ErrorList
}

// add records a problem at field path (its line is looked up in the position index).
func (c *errs) add(node, field, format string, args ...any) {
	c.list = append(c.list, &ValidationError{
		File:    c.file,
		Line:    c.pos.line(field),
		NodeID:  node,
		Field:   field,
		Message: fmt.Sprintf(format, args...),
	})
}

func (c *errs) err() error {
	if len(c.list) == 0 {
		return nil
	}
	return c.list.sorted()
}
