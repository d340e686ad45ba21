package plans

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Canonical returns the canonical form of a valid plan: compact JSON with sorted keys, no HTML
// escaping, numbers normalised (2, 2.0 and 2e0 are all 2), empty and absent values left out,
// durations normalised ("90s" is "1m30s"), nodes sorted by id, documented defaults of votes made
// explicit, and every code node self-contained: its path replaced by the source it names and its
// digest set to that source's sha256. Two plans that differ only in format (YAML or JSON), key
// order, node order, quoting or indentation have the same canonical form; editing a code file a
// plan points to changes it. It validates p first and fails with the validation errors.
//
// Canonical only reads p (it validates a copy), so it is safe to call concurrently on a plan
// nobody modifies; code files already read by Load or Validate are not read again.
func Canonical(p *Plan) ([]byte, error) {
	p = p.clone()
	if err := p.validate(false); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("canonical form: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("canonical form: %w", err)
	}
	if d, ok := doc["defaults"].(map[string]any); ok {
		if d["engine"] == string(EngineWazero) {
			delete(d, "engine")
		}
		if l, ok := d["limits"].(map[string]any); ok {
			normDuration(l, "timeout")
		}
	}
	nodes, _ := doc["nodes"].([]any)
	for i, raw := range nodes {
		n := raw.(map[string]any)
		src := &p.Nodes[i]
		normDuration(n, "timeout")
		if c, ok := n["code"].(map[string]any); ok && src.Code != nil {
			delete(c, "path")
			c["source"] = src.Code.SourceText()
			c["digest"] = src.Code.SourceDigest()
			if l, ok := c["limits"].(map[string]any); ok {
				normDuration(l, "timeout")
			}
		}
		if rm, ok := n["router"].(map[string]any); ok && src.Router != nil {
			if err := canonicalRouter(rm, src.Router); err != nil {
				return nil, fmt.Errorf("canonical form: node %q: %w", src.ID, err)
			}
		}
		if k, ok := n["consensus"].(map[string]any); ok {
			vote := p.EffectiveVote(src)
			if vm, ok := k["vote"].(map[string]any); ok {
				vm["normalize"] = vote.Normalize
				if vote.Precision != 0 {
					vm["precision"] = json.Number(strconv.Itoa(vote.Precision))
				}
			}
		}
	}
	sort.SliceStable(nodes, func(i, j int) bool {
		return nodes[i].(map[string]any)["id"].(string) < nodes[j].(map[string]any)["id"].(string)
	})
	clean := normalize(doc, false)
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(clean); err != nil {
		return nil, fmt.Errorf("canonical form: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// clone copies the parts of p that validation writes (code nodes' loaded source).
func (p *Plan) clone() *Plan {
	cp := *p
	cp.Nodes = make([]Node, len(p.Nodes))
	copy(cp.Nodes, p.Nodes)
	for i := range cp.Nodes {
		if c := cp.Nodes[i].Code; c != nil {
			cc := *c
			cp.Nodes[i].Code = &cc
		}
		if r := cp.Nodes[i].Router; r != nil {
			rc := *r
			rc.Branches = make([]Branch, len(r.Branches))
			copy(rc.Branches, r.Branches)
			for j := range rc.Branches {
				if sub := rc.Branches[j].Plan; sub != nil {
					rc.Branches[j].Plan = sub.clone()
				}
			}
			cp.Nodes[i].Router = &rc
		}
	}
	return &cp
}

// Digest returns "sha256:HEX" of the canonical form of p.
func Digest(p *Plan) (string, error) {
	c, err := Canonical(p)
	if err != nil {
		return "", err
	}
	return digestOf(c), nil
}

func normDuration(m map[string]any, key string) {
	s, ok := m[key].(string)
	if !ok {
		return
	}
	if d, err := time.ParseDuration(s); err == nil {
		m[key] = d.String()
	}
}

// normalize drops empty values (outside JSON schemas, where {} and [] can mean something) and
// normalises numbers.
func normalize(v any, inSchema bool) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			nv := normalize(val, inSchema || k == "schema")
			if !inSchema && k != "schema" && isEmpty(nv) {
				continue
			}
			out[k] = nv
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			out[i] = normalize(val, inSchema)
		}
		return out
	case json.Number:
		return json.Number(normNumber(string(x)))
	default:
		return v
	}
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

var intRE = regexp.MustCompile(`^-?[0-9]+$`)

// normNumber writes a JSON number in one way: integers as plain digits (exact, however large),
// other values as the shortest float64 form.
func normNumber(s string) string {
	if intRE.MatchString(s) {
		neg := strings.HasPrefix(s, "-")
		d := strings.TrimLeft(strings.TrimPrefix(s, "-"), "0")
		if d == "" {
			return "0"
		}
		if neg {
			return "-" + d
		}
		return d
	}
	if r, ok := ratOf(s); ok && r.IsInt() && len(r.Num().String()) <= 400 {
		return r.Num().String()
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return s // out of float64 range: keep as written
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// Marshal writes a plan as YAML or JSON for people to read and diff: fields in schema order,
// multi-line strings (prompts, code) as YAML block scalars. Parse reads the result back to a
// plan with the same canonical form.
func Marshal(p *Plan, format Format) ([]byte, error) {
	cp := *p
	cp.Nodes = make([]Node, len(p.Nodes))
	copy(cp.Nodes, p.Nodes)
	for i := range cp.Nodes {
		if l := cp.Nodes[i].LLM; l != nil && l.Parser.Schema != nil {
			ll := *l
			ll.Parser.Schema = plainNumbers(l.Parser.Schema).(map[string]any)
			cp.Nodes[i].LLM = &ll
		}
	}
	switch format {
	case FormatJSON:
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(&cp); err != nil {
			return nil, fmt.Errorf("marshal plan: %w", err)
		}
		return b.Bytes(), nil
	case FormatYAML:
		var n yaml.Node
		if err := n.Encode(&cp); err != nil {
			return nil, fmt.Errorf("marshal plan: %w", err)
		}
		blockStrings(&n)
		var b bytes.Buffer
		enc := yaml.NewEncoder(&b)
		enc.SetIndent(2)
		if err := enc.Encode(&n); err != nil {
			return nil, fmt.Errorf("marshal plan: %w", err)
		}
		if err := enc.Close(); err != nil {
			return nil, fmt.Errorf("marshal plan: %w", err)
		}
		return b.Bytes(), nil
	default:
		return nil, fmt.Errorf("marshal plan: unknown format %q (want yaml or json)", format)
	}
}

// plainNumbers turns json.Number (a string type, which YAML would quote) into int64 or float64.
func plainNumbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			out[k] = plainNumbers(val)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			out[i] = plainNumbers(val)
		}
		return out
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		if f, err := x.Float64(); err == nil {
			return f
		}
		return string(x)
	default:
		return v
	}
}

// blockStrings renders multi-line strings as literal block scalars where YAML can represent
// them exactly that way.
func blockStrings(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" && strings.Contains(n.Value, "\n") && blockSafe(n.Value) {
		n.Style = yaml.LiteralStyle
	}
	for _, c := range n.Content {
		blockStrings(c)
	}
}

// blockSafe reports whether a literal block scalar round-trips s: no trailing spaces on lines,
// no carriage returns, and no leading blank line or leading white space on the first line (which
// would need an indentation indicator).
func blockSafe(s string) bool {
	if strings.ContainsRune(s, '\r') || strings.HasPrefix(s, " ") || strings.HasPrefix(s, "\t") || strings.HasPrefix(s, "\n") {
		return false
	}
	for _, line := range strings.Split(s, "\n") {
		if strings.HasSuffix(line, " ") {
			return false
		}
	}
	return true
}
