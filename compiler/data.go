package compiler

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/metric"
	"go.yaml.in/yaml/v3"
)

// Task says what to compile: the initial plan, how data records map onto the plan's inputs and
// label, and how an output is scored. It is read from a YAML file (see testdata/tasks).
type Task struct {
	Name string `yaml:"name"`
	// Plan is the initial plan's file, relative to the task file.
	Plan string `yaml:"plan"`
	// Inputs maps each plan input to the data field holding it. Only these fields (and Label
	// and ID) are ever read from a record, so other fields, such as GSM-Hard's reference
	// program, never reach the student or the teacher.
	Inputs map[string]string `yaml:"inputs"`
	Label  string            `yaml:"label"`
	// ID names the record id field; empty means the line number.
	ID string `yaml:"id,omitempty"`
	// Metric is "numeric" (relative tolerance) or "exact".
	Metric    string  `yaml:"metric"`
	Tolerance float64 `yaml:"tolerance,omitempty"`
	// Epsilon and Delta set the PAC target (default 0.05 each).
	Epsilon float64 `yaml:"epsilon,omitempty"`
	Delta   float64 `yaml:"delta,omitempty"`

	dir string
}

// LoadTask reads and checks a task file.
func LoadTask(path string) (*Task, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read task: %w", err)
	}
	var t Task
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("task %s: %w", path, err)
	}
	t.dir = filepath.Dir(path)
	if t.Epsilon == 0 {
		t.Epsilon = 0.05
	}
	if t.Delta == 0 {
		t.Delta = 0.05
	}
	if t.Metric == "numeric" && t.Tolerance == 0 {
		t.Tolerance = metric.DefaultRelTol
	}
	var problems []string
	if t.Name == "" {
		problems = append(problems, "name is required")
	}
	if t.Plan == "" {
		problems = append(problems, "plan is required")
	}
	if len(t.Inputs) == 0 {
		problems = append(problems, "inputs must map at least one plan input to a data field")
	}
	if t.Label == "" {
		problems = append(problems, "label is required")
	}
	if t.Metric != "numeric" && t.Metric != "exact" {
		problems = append(problems, fmt.Sprintf("metric is %q, want numeric or exact", t.Metric))
	}
	if t.Tolerance < 0 || math.IsNaN(t.Tolerance) {
		problems = append(problems, "tolerance must be at least 0")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("task %s: %s", path, strings.Join(problems, "; "))
	}
	return &t, nil
}

// PlanPath is the initial plan's path, resolved against the task file's folder.
func (t *Task) PlanPath() string {
	if filepath.IsAbs(t.Plan) {
		return t.Plan
	}
	return filepath.Join(t.dir, t.Plan)
}

// Scoring returns the task's metric: the runtime's metric of that name, so that compile-time
// and eval-time scores agree.
func (t *Task) Scoring() metric.Metric {
	m, err := metric.Parse(t.Metric, t.Tolerance)
	if err != nil {
		// LoadTask accepted the name, so this is a programming error in the two lists.
		panic(fmt.Sprintf("task metric %q: %v", t.Metric, err))
	}
	return m
}

// ReadItems reads JSON lines with the runtime's item reader (the one `sgde eval` uses), keeping
// per record only the fields the task maps.
func (t *Task) ReadItems(r io.Reader) ([]runtime.Item, error) {
	items, err := runtime.ReadItems(r, nil, runtime.Fields{Inputs: t.Inputs, Label: t.Label, ID: t.ID, StrictID: true})
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, errors.New("no records")
	}
	return items, nil
}

// ReadItemsFile reads items from a JSONL file.
func (t *Task) ReadItemsFile(path string) ([]runtime.Item, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read data: %w", err)
	}
	defer f.Close()
	items, err := t.ReadItems(f)
	if err != nil {
		return nil, fmt.Errorf("read data %s: %w", path, err)
	}
	return items, nil
}

// DigestItems is a digest of items (ids, inputs, labels) for provenance and resume checks.
func DigestItems(items []runtime.Item) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	for _, it := range items {
		_ = enc.Encode(it) // encoding of decoded JSON cannot fail
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}
