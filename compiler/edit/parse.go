package edit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Response is what a teacher returns for one round: a critique per node (the semantic
// gradient) and candidate edit lists, each of which yields one candidate plan.
type Response struct {
	Critique   map[string]string `json:"critique,omitempty"`
	Candidates []Candidate       `json:"candidates"`
}

// Candidate is one proposed change: edits applied together, with the teacher's reason.
type Candidate struct {
	Rationale string `json:"rationale,omitempty"`
	Edits     []Edit `json:"edits"`
}

// MaxReplyBytes bounds the teacher reply Parse reads; anything longer is rejected rather than
// scanned, so that a hostile or runaway teacher cannot make parsing quadratic in its output.
const MaxReplyBytes = 1 << 20

// ErrNoJSON means no JSON object could be found in a teacher reply.
var ErrNoJSON = errors.New("no JSON object in reply")

// SchemaError lists every way a reply departs from the schema. Its message is what a repair
// request shows the teacher.
type SchemaError struct {
	Problems []string
}

// Error lists the problems; it is what a repair request shows the teacher.
func (e *SchemaError) Error() string {
	return "reply does not match the edit schema: " + strings.Join(e.Problems, "; ")
}

var thinkBlock = regexp.MustCompile(`(?is)<think(?:ing)?>.*?</think(?:ing)?>`)
var closeThink = regexp.MustCompile(`(?i)</think>`)
var fence = regexp.MustCompile("(?s)```[A-Za-z0-9_-]*[ \t]*\r?\n(.*?)```")

// ExtractJSON finds the JSON object in a teacher reply: it drops reasoning blocks
// (<think>…</think>), prefers fenced code blocks (the last valid one wins, as models often
// show a draft first), and otherwise takes the last balanced {...} span that is valid JSON.
func ExtractJSON(reply string) ([]byte, error) {
	if len(reply) > MaxReplyBytes {
		return nil, fmt.Errorf("reply of %d bytes exceeds %d: %w", len(reply), MaxReplyBytes, ErrNoJSON)
	}
	s := thinkBlock.ReplaceAllString(reply, "")
	if loc := closeThink.FindStringIndex(s); loc != nil {
		// An opening tag lost to truncation of the prompt template: keep what follows. (Found
		// in s itself: lower-casing first changes byte offsets of invalid UTF-8.)
		s = s[loc[1]:]
	}
	var found []byte
	for _, m := range fence.FindAllStringSubmatch(s, -1) {
		body := strings.TrimSpace(m[1])
		if obj := firstObject(body); obj != nil {
			found = obj
		}
	}
	if found != nil {
		return found, nil
	}
	if obj := lastObject(s); obj != nil {
		return obj, nil
	}
	return nil, ErrNoJSON
}

func isObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{' && json.Valid(b)
}

func firstObject(s string) []byte {
	if isObject([]byte(s)) {
		return []byte(s)
	}
	spans := objectSpans(s)
	for _, sp := range spans {
		if b := []byte(s[sp[0]:sp[1]]); json.Valid(b) {
			return b
		}
	}
	return nil
}

func lastObject(s string) []byte {
	spans := objectSpans(s)
	for i := len(spans) - 1; i >= 0; i-- {
		if b := []byte(s[spans[i][0]:spans[i][1]]); json.Valid(b) {
			return b
		}
	}
	return nil
}

// objectSpans returns the outermost balanced {...} spans of s in one linear pass, tracking JSON
// strings so that braces inside them do not count.
func objectSpans(s string) [][2]int {
	var spans [][2]int
	depth, start := 0, -1
	inStr, esc := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			if depth > 0 {
				inStr = true
			}
		case '{':
			if depth == 0 {
				start = i
			}
			depth++
		case '}':
			if depth > 0 {
				depth--
				if depth == 0 {
					spans = append(spans, [2]int{start, i + 1})
				}
			}
		}
	}
	return spans
}

// Parse reads a teacher reply leniently (see ExtractJSON) and validates it strictly: unknown
// fields, missing fields, out-of-range values and actions outside allowed are all reported in a
// *SchemaError. A bare {"critique":…, "edits":[…]} is read as a single candidate. Parse never
// panics, whatever the reply.
func Parse(reply string, allowed []Action) (*Response, error) {
	raw, err := ExtractJSON(reply)
	if err != nil {
		return nil, err
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, &SchemaError{Problems: []string{"top level: " + err.Error()}}
	}
	if _, ok := probe["candidates"]; !ok {
		if e, ok := probe["edits"]; ok {
			single := map[string]json.RawMessage{"candidates": json.RawMessage(`[{"edits":` + string(e) + `}]`)}
			if c, ok := probe["critique"]; ok {
				single["critique"] = c
			}
			for k := range probe {
				if k != "edits" && k != "critique" {
					single[k] = probe[k] // kept so that the unknown field is reported
				}
			}
			raw, _ = json.Marshal(single)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var r Response
	if err := dec.Decode(&r); err != nil {
		return nil, &SchemaError{Problems: []string{err.Error()}}
	}
	var problems []string
	if len(r.Candidates) == 0 {
		problems = append(problems, "candidates: at least one candidate is required")
	}
	for i, c := range r.Candidates {
		if len(c.Edits) == 0 {
			problems = append(problems, fmt.Sprintf("candidates[%d].edits: at least one edit is required", i))
		}
		for j, e := range c.Edits {
			at := fmt.Sprintf("candidates[%d].edits[%d]", i, j)
			for _, p := range e.Validate() {
				problems = append(problems, at+"."+p)
			}
			if e.Action != "" && allowed != nil && !slices.Contains(allowed, e.Action) {
				problems = append(problems, fmt.Sprintf("%s.action: %q is not allowed in this run (allowed: %s)", at, e.Action, joinActions(allowed)))
			}
		}
	}
	if len(problems) > 0 {
		return &r, &SchemaError{Problems: problems}
	}
	return &r, nil
}

func joinActions(as []Action) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}
