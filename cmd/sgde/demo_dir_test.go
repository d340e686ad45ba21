package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemoRefusesForeignOutputDir: a mistyped -o must never delete a user's files.
func TestDemoRefusesForeignOutputDir(t *testing.T) {
	dir := t.TempDir()
	precious := filepath.Join(dir, "thesis.tex")
	if err := os.WriteFile(precious, []byte("years of work"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"sgde", "demo", "-q", "-o", dir}, &stdout, &stderr)
	if code != exitUsage {
		t.Fatalf("exit %d, want %d; stderr: %s", code, exitUsage, stderr.String())
	}
	if !strings.Contains(stderr.String(), "not an earlier demo's output") {
		t.Errorf("stderr does not explain the refusal: %s", stderr.String())
	}
	if b, err := os.ReadFile(precious); err != nil || string(b) != "years of work" {
		t.Fatalf("the user's file was touched: %q, %v", b, err)
	}
}

func TestClearDemoDir(t *testing.T) {
	tests := []struct {
		name    string
		files   []string
		wantErr bool
	}{
		{"missing", nil, false},
		{"empty", []string{}, false},
		{"earlier demo", []string{fileDemoMarker, "data/train.jsonl", "plan.yaml"}, false},
		{"foreign", []string{"notes.txt"}, true},
		{"invocation without marker", []string{fileInvocation}, true},
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
			err := clearDemoDir(dir)
			if (err != nil) != tt.wantErr {
				t.Fatalf("clearDemoDir: %v, want error %v", err, tt.wantErr)
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
