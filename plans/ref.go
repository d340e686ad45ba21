package plans

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Ref is a parsed reference to a value in a plan: a plan input ("inputs.NAME"), the whole
// output of a node ("NODE") or one field of a node's object output ("NODE.FIELD").
type Ref struct {
	// Input is the plan input name for "inputs.NAME"; empty otherwise.
	Input string
	// Node is the node id for "NODE" and "NODE.FIELD"; empty for inputs.
	Node string
	// Field is the output field for "NODE.FIELD"; empty otherwise.
	Field string
}

// inputsPrefix is the reserved first segment of input references. No node may be called
// "inputs", so a reference is never ambiguous.
const inputsPrefix = "inputs"

// maxIdentLen bounds identifiers so that error messages and graph labels stay readable.
const maxIdentLen = 64

// ErrRef is wrapped by every error about the syntax of a reference or template.
var ErrRef = errors.New("bad reference")

// ParseRef parses "inputs.NAME", "NODE" or "NODE.FIELD". Surrounding whitespace is not allowed
// here (templates trim it before calling ParseRef).
func ParseRef(s string) (Ref, error) {
	parts := strings.Split(s, ".")
	for _, p := range parts {
		if !isIdent(p) {
			return Ref{}, fmt.Errorf("%w %q: want inputs.NAME, NODE or NODE.FIELD with names of letters, digits, _ and -", ErrRef, s)
		}
	}
	switch {
	case parts[0] == inputsPrefix && len(parts) == 2:
		return Ref{Input: parts[1]}, nil
	case parts[0] == inputsPrefix:
		return Ref{}, fmt.Errorf("%w %q: want inputs.NAME", ErrRef, s)
	case len(parts) == 1:
		return Ref{Node: parts[0]}, nil
	case len(parts) == 2:
		return Ref{Node: parts[0], Field: parts[1]}, nil
	default:
		return Ref{}, fmt.Errorf("%w %q: at most one field (NODE.FIELD)", ErrRef, s)
	}
}

// String returns the reference in the syntax ParseRef reads.
func (r Ref) String() string {
	switch {
	case r.Input != "":
		return inputsPrefix + "." + r.Input
	case r.Field != "":
		return r.Node + "." + r.Field
	default:
		return r.Node
	}
}

// IsInput reports whether r names a plan input.
func (r Ref) IsInput() bool { return r.Input != "" }

// isIdent reports whether s is a name: a letter or _ then letters, digits, _ or -.
func isIdent(s string) bool {
	if s == "" || len(s) > maxIdentLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case (c >= '0' && c <= '9') || c == '-':
			if i == 0 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// Segment is one piece of a parsed template: literal text or a reference.
type Segment struct {
	// Text is literal text (with "{{{{" already turned into "{{"); empty when Ref is set.
	Text string
	// Ref is the reference to insert; meaningful when IsRef.
	Ref   Ref
	IsRef bool
	// Offset is the byte offset of the segment in the template, for error messages.
	Offset int
}

// ParseTemplate splits a prompt template into literal text and references. "{{ REF }}" inserts
// a value (whitespace inside the braces is allowed), "{{{{" is a literal "{{"; anything else
// that opens with "{{" must be a well-formed, closed reference.
func ParseTemplate(tmpl string) ([]Segment, error) {
	var segs []Segment
	var lit strings.Builder
	litStart := 0
	flush := func() {
		if lit.Len() > 0 {
			segs = append(segs, Segment{Text: lit.String(), Offset: litStart})
			lit.Reset()
		}
	}
	for i := 0; i < len(tmpl); {
		j := strings.Index(tmpl[i:], "{{")
		if j < 0 {
			if lit.Len() == 0 {
				litStart = i
			}
			lit.WriteString(tmpl[i:])
			break
		}
		if lit.Len() == 0 {
			litStart = i
		}
		lit.WriteString(tmpl[i : i+j])
		i += j
		if strings.HasPrefix(tmpl[i:], "{{{{") {
			lit.WriteString("{{")
			i += 4
			continue
		}
		end := strings.Index(tmpl[i+2:], "}}")
		if end < 0 {
			return nil, fmt.Errorf("%w: unclosed {{ at byte %d (write {{{{ for a literal {{)", ErrRef, i)
		}
		body := strings.TrimSpace(tmpl[i+2 : i+2+end])
		ref, err := ParseRef(body)
		if err != nil {
			return nil, fmt.Errorf("template at byte %d: %w", i, err)
		}
		flush()
		segs = append(segs, Segment{Ref: ref, IsRef: true, Offset: i})
		i += 2 + end + 2
	}
	flush()
	return segs, nil
}

// TemplateRefs returns the references of a template in order of appearance, with repeats.
func TemplateRefs(tmpl string) ([]Ref, error) {
	segs, err := ParseTemplate(tmpl)
	if err != nil {
		return nil, err
	}
	var refs []Ref
	for _, s := range segs {
		if s.IsRef {
			refs = append(refs, s.Ref)
		}
	}
	return refs, nil
}

// Render fills a template, asking lookup for the value of each reference. Values render as
// FormatValue does.
func Render(tmpl string, lookup func(Ref) (any, error)) (string, error) {
	segs, err := ParseTemplate(tmpl)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, s := range segs {
		if !s.IsRef {
			b.WriteString(s.Text)
			continue
		}
		v, err := lookup(s.Ref)
		if err != nil {
			return "", fmt.Errorf("render {{ %s }}: %w", s.Ref, err)
		}
		text, err := FormatValue(v)
		if err != nil {
			return "", fmt.Errorf("render {{ %s }}: %w", s.Ref, err)
		}
		b.WriteString(text)
	}
	return b.String(), nil
}

// FormatValue renders a value for a prompt: strings as they are, numbers in plain decimal
// without exponent where float64 allows it (json.Number exactly as written), booleans as
// true/false, nil as null, and objects and arrays as compact JSON.
func FormatValue(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case json.Number:
		return x.String(), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32), nil
	case int:
		return strconv.Itoa(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case uint64:
		return strconv.FormatUint(x, 10), nil
	case bool:
		return strconv.FormatBool(x), nil
	case nil:
		return "null", nil
	default:
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false) // a prompt is not HTML: keep <, > and & readable
		if err := enc.Encode(x); err != nil {
			return "", fmt.Errorf("format value of type %T: %w", v, err)
		}
		return strings.TrimSuffix(b.String(), "\n"), nil
	}
}
