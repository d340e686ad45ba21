package report

import (
	"errors"
	"os"
	"path/filepath"
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
