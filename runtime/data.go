package runtime

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/sgde-project/sgde/plans"
)

// Fields says which record fields of a data file hold what.
type Fields struct {
	// Input is the field holding the plan input: its value becomes the plan's only input, or,
	// for plans with several inputs, it must be an object mapping input names to values.
	Input string
	// Inputs, when set, maps each plan input to the field holding it instead (a compile task's
	// mapping); Input is then unused. Only mapped fields are read, so other fields of a record
	// (GSM-Hard's reference program) never reach the student or a teacher.
	Inputs map[string]string
	// Label is the field holding the expected output.
	Label string
	// ID is the field identifying the record. When the first record lacks it, every record is
	// identified by its 0-based position among the records instead, unless StrictID is set.
	ID string
	// StrictID makes a record without the ID field an error (a compile task that names its id
	// field), instead of switching to positions.
	StrictID bool
}

// maxRecord bounds one JSONL record.
const maxRecord = 16 << 20

// MaxItems bounds a data file, so that a runaway file fails clearly instead of exhausting memory.
const MaxItems = 1_000_000

// ReadItems reads a JSONL data file (numbers kept exact as json.Number) into items for p.
// Blank lines are skipped; a malformed record or a repeated id is an error naming its line, so
// a bad file fails before any work starts.
func ReadItems(r io.Reader, p *plans.Plan, f Fields) ([]Item, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxRecord)
	var items []Item
	byLine := false
	line := 0
	// seen maps each id to its line: resume and per-item results are keyed by id, so two
	// records with one id would silently share a result.
	seen := map[string]int{}
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		if len(items) >= MaxItems {
			return nil, fmt.Errorf("data line %d: more than %d records", line, MaxItems)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var rec map[string]any
		if err := dec.Decode(&rec); err != nil {
			return nil, fmt.Errorf("data line %d: %w", line, err)
		}
		if dec.More() {
			return nil, fmt.Errorf("data line %d: more than one JSON value", line)
		}
		if rec == nil {
			return nil, fmt.Errorf("data line %d: not a JSON object", line)
		}
		inputs, err := recordInputs(rec, p, f)
		if err != nil {
			return nil, fmt.Errorf("data line %d: %w", line, err)
		}
		label, ok := rec[f.Label]
		if !ok {
			return nil, fmt.Errorf("data line %d: no field %q%s", line, f.Label, hint(f, "label", "--label-field"))
		}
		id := ""
		idv, hasID := rec[f.ID]
		switch {
		case !hasID && f.StrictID && f.ID != "":
			return nil, fmt.Errorf("data line %d: no id field %q", line, f.ID)
		case len(items) == 0 && !hasID:
			byLine = true
			fallthrough
		case byLine:
			id = strconv.Itoa(len(items))
		case !hasID:
			return nil, fmt.Errorf("data line %d: no field %q though earlier records have it", line, f.ID)
		default:
			s, err := plans.FormatValue(idv)
			if err != nil {
				return nil, fmt.Errorf("data line %d: id: %w", line, err)
			}
			id = s
		}
		if first, dup := seen[id]; dup {
			return nil, fmt.Errorf("data line %d: id %q repeats line %d (ids must be unique: results and --resume are keyed by id)", line, id, first)
		}
		seen[id] = line
		items = append(items, Item{ID: id, Inputs: inputs, Label: label})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read data: %w", err)
	}
	return items, nil
}

// recordInputs picks a record's plan inputs according to f.
func recordInputs(rec map[string]any, p *plans.Plan, f Fields) (map[string]any, error) {
	if len(f.Inputs) > 0 {
		inputs := make(map[string]any, len(f.Inputs))
		for name, field := range f.Inputs {
			v, ok := rec[field]
			if !ok {
				return nil, fmt.Errorf("no field %q for input %q", field, name)
			}
			inputs[name] = v
		}
		return inputs, nil
	}
	in, ok := rec[f.Input]
	if !ok {
		return nil, fmt.Errorf("no field %q%s", f.Input, hint(f, "input", "--input-field"))
	}
	if p != nil && len(p.Inputs) == 1 {
		return map[string]any{p.Inputs[0].Name: in}, nil
	}
	obj, ok := in.(map[string]any)
	if !ok {
		n := 0
		if p != nil {
			n = len(p.Inputs)
		}
		return nil, fmt.Errorf("the plan has %d inputs, so field %q must be an object of them", n, f.Input)
	}
	return obj, nil
}

// hint names the eval flag that chooses a field, for data read with eval's single-field mapping.
func hint(f Fields, what, flag string) string {
	if len(f.Inputs) > 0 {
		return ""
	}
	return " (choose the " + what + " field with " + flag + ")"
}

// ReadSuspects reads a suspect-labels file: a JSON object whose "suspects" member (or, failing
// that, the object itself) is keyed by item id, or a JSON array of ids.
func ReadSuspects(r io.Reader) (map[string]bool, error) {
	dec := json.NewDecoder(io.LimitReader(r, 64<<20))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("read suspects: %w", err)
	}
	out := map[string]bool{}
	switch x := v.(type) {
	case []any:
		for _, id := range x {
			s, err := plans.FormatValue(id)
			if err != nil {
				return nil, err
			}
			out[s] = true
		}
		return out, nil
	case map[string]any:
		m := x
		if s, ok := x["suspects"].(map[string]any); ok {
			m = s
		}
		for id := range m {
			out[id] = true
		}
		return out, nil
	}
	return nil, fmt.Errorf("read suspects: want an object keyed by id or an array of ids")
}
