package task

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
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
	// ID names the record id field; empty means the record's position (from 0).
	ID string `yaml:"id,omitempty"`
	// Metric is "numeric" (relative tolerance) or "exact".
	Metric    string  `yaml:"metric"`
	Tolerance float64 `yaml:"tolerance,omitempty"`
	// Epsilon and Delta set the PAC target (default 0.05 each).
	Epsilon float64 `yaml:"epsilon,omitempty"`
	Delta   float64 `yaml:"delta,omitempty"`

	dir string
}

// Load reads and checks a task file.
func Load(path string) (*Task, error) {
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
		// Load accepted the name, so this is a programming error in the two lists.
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

// Split shuffles the records of the JSONL file path with seed and writes the first nTrain,
// the next nHeld and the next nTest of them to train.jsonl, heldout.jsonl and test.jsonl in dir
// (test.jsonl only when nTest > 0). It returns the three paths ("" for a file not written).
func Split(path, dir string, seed int64, nTrain, nHeld, nTest int) ([3]string, error) {
	var out [3]string
	b, err := os.ReadFile(path)
	if err != nil {
		return out, err
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	if nTrain < 1 || nHeld < 1 || nTest < 0 {
		return out, errors.New("split sizes must be positive")
	}
	if nTrain+nHeld+nTest > len(lines) {
		return out, fmt.Errorf("%d+%d+%d items asked, %s has %d", nTrain, nHeld, nTest, path, len(lines))
	}
	r := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	r.Shuffle(len(lines), func(i, j int) { lines[i], lines[j] = lines[j], lines[i] })
	parts := [][]string{lines[:nTrain], lines[nTrain : nTrain+nHeld], lines[nTrain+nHeld : nTrain+nHeld+nTest]}
	for i, name := range []string{"train.jsonl", "heldout.jsonl", "test.jsonl"} {
		if len(parts[i]) == 0 {
			continue
		}
		out[i] = filepath.Join(dir, name)
		if err := os.WriteFile(out[i], []byte(strings.Join(parts[i], "\n")+"\n"), 0o644); err != nil {
			return out, err
		}
	}
	return out, nil
}
