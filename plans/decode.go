package plans

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/sgde-project/sgde/internal/textdist"
	"go.yaml.in/yaml/v3"
)

// MaxPlanBytes bounds the size of a plan file. Plans are small; a bigger file is a mistake or
// an attack on the parser.
const MaxPlanBytes = 4 << 20

// maxDepth bounds nesting in plan files (JSON schemas are the only deep part of a plan).
const maxDepth = 64

// Format is a plan file encoding.
type Format string

// The encodings a plan can be read from and written to.
const (
	FormatYAML Format = "yaml"
	FormatJSON Format = "json"
)

// Load reads, decodes and validates the plan file at path. Code nodes' path fields are resolved
// against the plan file's folder. The error is an ErrorList when the plan is malformed.
func Load(path string) (*Plan, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load plan: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxPlanBytes+1))
	if err != nil {
		return nil, fmt.Errorf("load plan %s: %w", path, err)
	}
	if len(data) > MaxPlanBytes {
		return nil, ErrorList{{File: path, Message: fmt.Sprintf("plan file is larger than %d bytes", MaxPlanBytes)}}
	}
	return Parse(data, path)
}

// Parse decodes and validates a plan. filename names the plan in error messages, chooses the
// format (".json" is JSON, anything else is YAML, which also reads most JSON) and is the base
// for code nodes' path fields. Decoding is strict: unknown fields, duplicate keys, trailing
// documents and wrongly typed values are errors, each reported with its line.
func Parse(data []byte, filename string) (*Plan, error) {
	p, err := decode(data, filename)
	if err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// FormatOf returns the format Parse uses for filename.
func FormatOf(filename string) Format {
	if strings.EqualFold(filepath.Ext(filename), ".json") {
		return FormatJSON
	}
	return FormatYAML
}

// decode turns bytes into a Plan without semantic validation. Structural errors are attributed
// to the node they are in.
func decode(data []byte, filename string) (*Plan, error) {
	var root *tnode
	p, err := decodeTree(data, filename, &root)
	if err != nil {
		var list ErrorList
		if errors.As(err, &list) && root != nil {
			attachNodes(list, root)
		}
		return nil, err
	}
	return p, nil
}

// attachNodes fills in NodeID for errors inside a node, by field path or, for decoder errors
// that only know their line, by the lines the node spans.
func attachNodes(list ErrorList, root *tnode) {
	type span struct {
		id          string
		first, last int
	}
	var spans []span
	for _, k := range root.keys {
		if k.name != "nodes" || k.val.kind != tSeq {
			continue
		}
		for _, item := range k.val.items {
			sp := span{first: item.line, last: lastLine(item)}
			for _, f := range item.keys {
				if f.name == "id" && f.val.kind == tScalar {
					sp.id = f.val.value
				}
			}
			spans = append(spans, sp)
		}
	}
	for _, e := range list {
		if e.NodeID != "" {
			continue
		}
		var i int
		if n, _ := fmt.Sscanf(e.Field, "nodes[%d]", &i); n == 1 && i >= 0 && i < len(spans) {
			e.NodeID = spans[i].id
			continue
		}
		if e.Field == "" && e.Line > 0 {
			for _, sp := range spans {
				if e.Line >= sp.first && e.Line <= sp.last {
					e.NodeID = sp.id
				}
			}
		}
	}
}

func lastLine(t *tnode) int {
	last := t.line
	for _, k := range t.keys {
		last = max(last, k.line, lastLine(k.val))
	}
	for _, it := range t.items {
		last = max(last, lastLine(it))
	}
	return last
}

func decodeTree(data []byte, filename string, rootOut **tnode) (*Plan, error) {
	c := &errs{file: filename}
	if len(data) > MaxPlanBytes {
		c.add("", "", "plan is larger than %d bytes", MaxPlanBytes)
		return nil, c.err()
	}
	// A UTF-8 byte order mark is formatting, not content (editors on Windows add it).
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var root *tnode
	p := &Plan{}
	switch FormatOf(filename) {
	case FormatJSON:
		lines := newLineIndex(data)
		var err error
		root, err = jsonTree(data, lines)
		if err != nil {
			return nil, ErrorList{err.(*ValidationError)}.withFile(filename)
		}
		*rootOut = root
		c.pos = positions{}
		checkTree(root, reflect.TypeOf(Plan{}), "", c)
		if len(c.list) > 0 {
			return nil, c.err()
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		dec.DisallowUnknownFields()
		if err := dec.Decode(p); err != nil {
			return nil, ErrorList{jsonDecodeError(err, lines)}.withFile(filename)
		}
	default:
		var doc yaml.Node
		dec := yaml.NewDecoder(bytes.NewReader(data))
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				c.add("", "", "plan is empty")
				return nil, c.err()
			}
			return nil, ErrorList{yamlError(err.Error())}.withFile(filename)
		}
		var extra yaml.Node
		if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
			line := extra.Line
			if err != nil {
				return nil, ErrorList{yamlError(err.Error())}.withFile(filename)
			}
			return nil, ErrorList{{Line: line, Message: "more than one YAML document; a plan file holds exactly one"}}.withFile(filename)
		}
		var err error
		root, err = yamlTree(&doc, 0)
		if err != nil {
			return nil, ErrorList{err.(*ValidationError)}.withFile(filename)
		}
		*rootOut = root
		checkTree(root, reflect.TypeOf(Plan{}), "", c)
		if len(c.list) > 0 {
			return nil, c.err()
		}
		sd := yaml.NewDecoder(bytes.NewReader(data))
		sd.KnownFields(true)
		if err := sd.Decode(p); err != nil {
			var te *yaml.TypeError
			if errors.As(err, &te) {
				list := ErrorList{}
				for _, m := range te.Errors {
					list = append(list, yamlError(m))
				}
				return nil, list.withFile(filename).sorted()
			}
			return nil, ErrorList{yamlError(err.Error())}.withFile(filename)
		}
	}
	p.file = filename
	p.dir = filepath.Dir(filename)
	p.pos = c.pos
	return p, nil
}

func (l ErrorList) withFile(file string) ErrorList {
	for _, e := range l {
		e.File = file
	}
	return l
}

var yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlError turns a yaml.v3 message ("yaml: line 3: ...") into a ValidationError with a line.
func yamlError(msg string) *ValidationError {
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &ValidationError{Line: line, Message: strings.TrimPrefix(m[2], "yaml: ")}
	}
	return &ValidationError{Message: strings.TrimPrefix(msg, "yaml: ")}
}

// jsonDecodeError gives a json error a line from its byte offset.
func jsonDecodeError(err error, lines lineIndex) *ValidationError {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		return &ValidationError{Line: lines.line(te.Offset), Field: te.Field,
			Message: fmt.Sprintf("%s: cannot use a JSON %s as %s", te.Field, te.Value, te.Type)}
	case errors.As(err, &se):
		return &ValidationError{Line: lines.line(se.Offset), Message: strings.TrimPrefix(se.Error(), "json: ")}
	default:
		return &ValidationError{Message: strings.TrimPrefix(err.Error(), "json: ")}
	}
}

// positions maps a field path ("nodes[2].code.path") to the line where it is written.
type positions map[string]int

// line returns the line of path, or of its nearest recorded ancestor.
func (p positions) line(path string) int {
	for {
		if l, ok := p[path]; ok {
			return l
		}
		if path == "" {
			return 0
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			path = ""
		} else {
			path = path[:i]
		}
	}
}

// tnode is a format-independent view of a decoded document, kept only for positions and
// strictness checks; the values themselves are decoded by yaml.v3 and encoding/json.
type tnode struct {
	kind  int // tMap, tSeq or tScalar
	line  int
	value string // scalars only
	keys  []tkey
	items []*tnode
}

type tkey struct {
	name string
	line int
	val  *tnode
}

const (
	tScalar = iota
	tMap
	tSeq
)

func yamlTree(n *yaml.Node, depth int) (*tnode, error) {
	if depth > maxDepth {
		return nil, &ValidationError{Line: n.Line, Message: fmt.Sprintf("nesting deeper than %d levels", maxDepth)}
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return &tnode{kind: tScalar, line: n.Line}, nil
		}
		return yamlTree(n.Content[0], depth)
	case yaml.AliasNode:
		// Not followed: expanding aliases here would let a "billion laughs" document cost
		// exponential time. yaml.v3 expands them when decoding, with its own limits, and still
		// rejects unknown fields inside them (KnownFields).
		return &tnode{kind: tScalar, line: n.Line}, nil
	case yaml.MappingNode:
		t := &tnode{kind: tMap, line: n.Line}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return nil, &ValidationError{Line: k.Line, Message: "mapping keys must be plain strings"}
			}
			if k.Tag == "!!merge" {
				return nil, &ValidationError{Line: k.Line, Message: "merge keys (<<) are not supported in plans"}
			}
			vt, err := yamlTree(v, depth+1)
			if err != nil {
				return nil, err
			}
			t.keys = append(t.keys, tkey{name: k.Value, line: k.Line, val: vt})
		}
		return t, nil
	case yaml.SequenceNode:
		t := &tnode{kind: tSeq, line: n.Line}
		for _, it := range n.Content {
			vt, err := yamlTree(it, depth+1)
			if err != nil {
				return nil, err
			}
			t.items = append(t.items, vt)
		}
		return t, nil
	default:
		return &tnode{kind: tScalar, line: n.Line, value: n.Value}, nil
	}
}

// lineIndex maps byte offsets to lines.
type lineIndex []int

func newLineIndex(data []byte) lineIndex {
	idx := lineIndex{0}
	for i, b := range data {
		if b == '\n' {
			idx = append(idx, i+1)
		}
	}
	return idx
}

// line returns the 1-based line holding byte offset off.
func (l lineIndex) line(off int64) int {
	return sort.Search(len(l), func(i int) bool { return int64(l[i]) > off })
}

// jsonTree builds the position tree of a JSON document and rejects trailing data.
func jsonTree(data []byte, lines lineIndex) (*tnode, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	t, err := jsonNode(dec, lines, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &ValidationError{Line: lines.line(dec.InputOffset()), Message: "unexpected data after the plan object"}
	}
	return t, nil
}

func jsonNode(dec *json.Decoder, lines lineIndex, depth int) (*tnode, error) {
	start := dec.InputOffset()
	tok, err := dec.Token()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &ValidationError{Line: lines.line(start), Message: "plan is empty or truncated"}
		}
		return nil, jsonDecodeError(err, lines)
	}
	if depth > maxDepth {
		return nil, &ValidationError{Line: lines.line(start), Message: fmt.Sprintf("nesting deeper than %d levels", maxDepth)}
	}
	// The token starts after any whitespace; InputOffset after it is on the token's last line,
	// which is the token's line for everything but multi-line strings (JSON has none).
	line := lines.line(dec.InputOffset() - 1)
	d, ok := tok.(json.Delim)
	if !ok {
		s, _ := tok.(string)
		return &tnode{kind: tScalar, line: line, value: s}, nil
	}
	switch d {
	case '{':
		t := &tnode{kind: tMap, line: line}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, jsonDecodeError(err, lines)
			}
			name, _ := kt.(string)
			kline := lines.line(dec.InputOffset() - 1)
			v, err := jsonNode(dec, lines, depth+1)
			if err != nil {
				return nil, err
			}
			t.keys = append(t.keys, tkey{name: name, line: kline, val: v})
		}
		if _, err := dec.Token(); err != nil {
			return nil, jsonDecodeError(err, lines)
		}
		return t, nil
	case '[':
		t := &tnode{kind: tSeq, line: line}
		for dec.More() {
			v, err := jsonNode(dec, lines, depth+1)
			if err != nil {
				return nil, err
			}
			t.items = append(t.items, v)
		}
		if _, err := dec.Token(); err != nil {
			return nil, jsonDecodeError(err, lines)
		}
		return t, nil
	default:
		return nil, &ValidationError{Line: line, Message: fmt.Sprintf("unexpected %q", string(d))}
	}
}

// checkTree records the line of every field and reports unknown and duplicate keys, all of
// them, against the Go type the document decodes into. It matches keys exactly (encoding/json
// alone would accept "ApiVersion" for "apiVersion").
func checkTree(t *tnode, typ reflect.Type, path string, c *errs) {
	if c.pos == nil {
		c.pos = positions{}
	}
	if _, ok := c.pos[path]; !ok {
		c.pos[path] = t.line
	}
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	join := func(name string) string {
		if path == "" {
			return name
		}
		return path + "." + name
	}
	switch typ.Kind() {
	case reflect.Struct:
		if t.kind != tMap {
			return // the decoder reports the type mismatch with its line
		}
		fields := jsonFields(typ)
		seen := map[string]int{}
		for _, k := range t.keys {
			if first, dup := seen[k.name]; dup {
				c.list = append(c.list, &ValidationError{File: c.file, Line: k.line, Field: join(k.name),
					Message: fmt.Sprintf("duplicate key %q (first at line %d)", k.name, first)})
				continue
			}
			seen[k.name] = k.line
			f, ok := fields[k.name]
			if !ok {
				c.list = append(c.list, &ValidationError{File: c.file, Line: k.line, Field: join(k.name),
					Message: fmt.Sprintf("unknown field %q%s", k.name, suggest(k.name, fields, path))})
				continue
			}
			c.pos[join(k.name)] = k.line
			checkTree(k.val, f, join(k.name), c)
		}
	case reflect.Map:
		if t.kind != tMap {
			return
		}
		seen := map[string]int{}
		for _, k := range t.keys {
			if first, dup := seen[k.name]; dup {
				c.list = append(c.list, &ValidationError{File: c.file, Line: k.line, Field: join(k.name),
					Message: fmt.Sprintf("duplicate key %q (first at line %d)", k.name, first)})
				continue
			}
			seen[k.name] = k.line
			c.pos[join(k.name)] = k.line
			if typ.Elem().Kind() != reflect.Interface {
				checkTree(k.val, typ.Elem(), join(k.name), c)
			} else {
				checkAny(k.val, join(k.name), c)
			}
		}
	case reflect.Slice:
		if t.kind != tSeq {
			return
		}
		for i, it := range t.items {
			checkTree(it, typ.Elem(), fmt.Sprintf("%s[%d]", path, i), c)
		}
	}
}

// checkAny rejects duplicate keys inside free-form values (JSON schemas).
func checkAny(t *tnode, path string, c *errs) {
	switch t.kind {
	case tMap:
		seen := map[string]int{}
		for _, k := range t.keys {
			if first, dup := seen[k.name]; dup {
				c.list = append(c.list, &ValidationError{File: c.file, Line: k.line, Field: path + "." + k.name,
					Message: fmt.Sprintf("duplicate key %q (first at line %d)", k.name, first)})
				continue
			}
			seen[k.name] = k.line
			c.pos[path+"."+k.name] = k.line
			checkAny(k.val, path+"."+k.name, c)
		}
	case tSeq:
		for i, it := range t.items {
			checkAny(it, fmt.Sprintf("%s[%d]", path, i), c)
		}
	}
}

// jsonFields maps the JSON names of a struct's fields to their types.
func jsonFields(typ reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		m[name] = f.Type
	}
	return m
}

// suggest names the closest known field when an unknown one is probably a typo.
func suggest(name string, fields map[string]reflect.Type, path string) string {
	best, bestD := "", 3
	for f := range fields {
		if d := editDistance(strings.ToLower(name), strings.ToLower(f)); d < bestD || (d == bestD && f < best) {
			best, bestD = f, d
		}
	}
	where := "here"
	if path != "" {
		where = "in " + path
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	names := make([]string, 0, len(fields))
	for f := range fields {
		names = append(names, f)
	}
	sort.Strings(names)
	return fmt.Sprintf(" (known fields %s: %s)", where, strings.Join(names, ", "))
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	return textdist.Levenshtein(a, b)
}
