package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExecInputParseError: invalid JSON given to exec says what is wrong and where, not only
// that it is "not a JSON object".
func TestExecInputParseError(t *testing.T) {
	lines := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(lines, []byte("{\"a\": 1}\n{\"a\": tru}\n"), 0o644)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"unquoted key", []string{"--input", `{question: 1}`}, []string{"not valid JSON", "invalid character 'q'", "at byte 2"}},
		{"truncated", []string{"--input", `{"a": 1`}, []string{"not valid JSON", "unexpected end"}},
		{"array", []string{"--input", `[1]`}, []string{"not a JSON object (got an array)"}},
		{"file line", []string{"--inputs", lines}, []string{"in.jsonl:2", "not valid JSON", "invalid character"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runTestCLI(t, append([]string{"exec", arithSource}, tt.args...)...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d: %s", code, exitUsage, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q lacks %q", stderr, w)
				}
			}
		})
	}
}
