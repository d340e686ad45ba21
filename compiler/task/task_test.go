package task

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "task.yaml")
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	task, err := Load("../../testdata/tasks/gsm-hard.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if task.PlanPath() != filepath.Join("../../testdata/tasks", "../plans/gsm-hard-zero-shot.yaml") || task.Epsilon != 0.05 {
		t.Errorf("task = %+v", task)
	}
	for name, body := range map[string]string{
		"unknown field": "name: x\nplan: p.yaml\ninputs: {q: input}\nlabel: target\nmetric: numeric\ncolour: red\n",
		"bad metric":    "name: x\nplan: p.yaml\ninputs: {q: input}\nlabel: target\nmetric: fuzzy\n",
		"no inputs":     "name: x\nplan: p.yaml\nlabel: target\nmetric: exact\n",
		"no label":      "name: x\nplan: p.yaml\ninputs: {q: input}\nmetric: exact\n",
	} {
		if _, err := Load(write(body)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestReadItemsKeepsOnlyMappedFields(t *testing.T) {
	task := &Task{Inputs: map[string]string{"question": "input"}, Label: "target", ID: "idx"}
	items, err := task.ReadItems(strings.NewReader(`{"idx": 3, "input": "q?", "code": "def solution(): secret", "target": 1.5}` + "\n\n" +
		`{"idx": "a", "input": "r?", "code": "x", "target": -2}` + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || items[0].ID != "3" || items[1].ID != "a" || items[0].Inputs["question"] != "q?" || len(items[0].Inputs) != 1 {
		t.Fatalf("items = %+v", items)
	}
	for _, it := range items {
		for _, v := range it.Inputs {
			if strings.Contains(v.(string), "def solution") {
				t.Fatal("the code field leaked into the inputs")
			}
		}
	}
	for name, data := range map[string]string{
		"duplicate id":  `{"idx": 1, "input": "a", "target": 1}` + "\n" + `{"idx": 1, "input": "b", "target": 2}`,
		"missing input": `{"idx": 1, "target": 1}`,
		"missing label": `{"idx": 1, "input": "a"}`,
		"missing id":    `{"input": "a", "target": 1}`,
		"not json":      `{"idx": 1, "input": `,
		"empty":         "\n\n",
	} {
		if _, err := task.ReadItems(strings.NewReader(data)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzReadItems(f *testing.F) {
	f.Add(`{"idx": 3, "input": "q?", "target": 1.5}`)
	f.Add(`{"idx": [1], "input": {"a": 1}, "target": null}`)
	task := &Task{Inputs: map[string]string{"question": "input"}, Label: "target", ID: "idx"}
	f.Fuzz(func(t *testing.T, s string) {
		items, err := task.ReadItems(strings.NewReader(s))
		if err == nil && len(items) == 0 {
			t.Fatal("no error and no items")
		}
	})
}

// TestBBHTasks loads every BBH family's task file and its data: each maps the question onto the
// generic zero-shot plan, reads 150 items with string labels, and never the recorded answers.
func TestBBHTasks(t *testing.T) {
	files, err := filepath.Glob("../../testdata/tasks/bbh/*.yaml")
	if err != nil || len(files) != 10 {
		t.Fatalf("want 10 BBH task files, got %d (%v)", len(files), err)
	}
	for _, f := range files {
		task, err := Load(f)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(task.PlanPath()) != "bbh-zero-shot.yaml" || task.Metric != "exact" {
			t.Errorf("%s: plan %s metric %s", f, task.PlanPath(), task.Metric)
		}
		fam := strings.TrimSuffix(filepath.Base(f), ".yaml")
		items, err := task.ReadItemsFile(filepath.Join("../../testdata/bbh", fam+".jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != 150 {
			t.Errorf("%s: %d items", fam, len(items))
		}
		for _, it := range items {
			if _, ok := it.Label.(string); !ok || len(it.Inputs) != 1 || it.Inputs["question"] == "" {
				t.Fatalf("%s: item %+v", fam, it)
			}
		}
	}
}
