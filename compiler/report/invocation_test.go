package report

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestClearDemo(t *testing.T) {
	tests := []struct {
		name    string
		files   []string
		wantErr bool
	}{
		{"missing", nil, false},
		{"empty", []string{}, false},
		{"earlier demo", []string{FileDemoMarker, "data/train.jsonl", "plan.yaml"}, false},
		{"foreign", []string{"notes.txt"}, true},
		{"invocation without marker", []string{FileInvocation}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			if tt.files != nil {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for _, f := range tt.files {
				p := filepath.Join(dir, f)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := ClearDemo(dir)
			var ie *InputError
			if (err != nil) != tt.wantErr || (err != nil && !errors.As(err, &ie)) {
				t.Fatalf("ClearDemo: %v, want error %v", err, tt.wantErr)
			}
			entries, _ := os.ReadDir(dir)
			if tt.wantErr && len(entries) != len(tt.files) {
				t.Errorf("refused, but the folder changed: %d entries left of %d", len(entries), len(tt.files))
			}
			if !tt.wantErr && len(entries) != 0 {
				t.Errorf("%d entries left after clearing", len(entries))
			}
		})
	}
}

func TestInvocationCheck(t *testing.T) {
	ok := Invocation{Task: "t.yaml", Train: "tr.jsonl", Heldout: "h.jsonl", Teacher: "library", StudentURL: "http://127.0.0.1:9/v1",
		StudentModel: "m", Actions: "prompt,offload", K: 3, MinDelta: 0.01, Alpha: 0.05, Patience: 2, Iterations: 8, Probe: 8, Workers: 8}
	with := func(f func(*Invocation)) Invocation { inv := ok; f(&inv); return inv }
	tests := []struct {
		name    string
		inv     Invocation
		output  string
		wantErr string
	}{
		{"complete", ok, "out", ""},
		{"teacher endpoint with model", with(func(i *Invocation) { i.Teacher, i.TeacherModel = "http://127.0.0.1:9/v1", "big" }), "out", ""},
		{"no output", ok, "", "missing -o (or --resume DIR)"},
		{"several missing", with(func(i *Invocation) { i.Task, i.StudentModel = "", "" }), "out", "missing --task, --student-model"},
		{"teacher endpoint without model", with(func(i *Invocation) { i.Teacher = "http://127.0.0.1:9/v1" }), "out", "needs --teacher-model"},
		{"unknown action", with(func(i *Invocation) { i.Actions = "prompt,teleport" }), "out", "--actions: "},
		{"no candidates", with(func(i *Invocation) { i.K = 0 }), "out", "must be at least 1"},
		{"no workers", with(func(i *Invocation) { i.Workers = 0 }), "out", "must be at least 1"},
		{"min-delta 1", with(func(i *Invocation) { i.MinDelta = 1 }), "out", "--min-delta must lie in [0, 1)"},
		{"alpha 0", with(func(i *Invocation) { i.Alpha = 0 }), "out", "--alpha in (0, 1]"},
	}
	for _, tt := range tests {
		err := tt.inv.Check(tt.output)
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("%s: Check = %v", tt.name, err)
			}
			continue
		}
		var ie *InputError
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.As(err, &ie) {
			t.Errorf("%s: Check = %v, want an *InputError with %q", tt.name, err, tt.wantErr)
		}
	}
}
