package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeData writes a small data set for the answerServer: the label of each question is its
// length, except where noted.
func writeData(t *testing.T, dir string) string {
	t.Helper()
	recs := []map[string]any{
		{"idx": 10, "input": "abc", "target": 3.0},
		{"idx": 11, "input": "abcd", "target": 4},
		{"idx": 12, "input": "garbage", "target": 1},
		{"idx": 13, "input": "abcde", "target": 6}, // a wrong label
	}
	var b strings.Builder
	for _, r := range recs {
		line, _ := json.Marshal(r)
		b.Write(line)
		b.WriteByte('\n')
	}
	path := filepath.Join(dir, "data.jsonl")
	os.WriteFile(path, []byte(b.String()), 0o644)
	return path
}

func TestEvalCommand(t *testing.T) {
	clearStudentEnv(t)
	srv := answerServer(t)
	dir := t.TempDir()
	data := writeData(t, dir)
	suspects := filepath.Join(dir, "suspects.json")
	os.WriteFile(suspects, []byte(`{"suspects": {"13": ["wrong"]}}`), 0o644)
	results, traces, summary := filepath.Join(dir, "r.jsonl"), filepath.Join(dir, "t.jsonl"), filepath.Join(dir, "s.json")
	args := []string{"eval", zeroShot, "--data", data, "--metric", "numeric", "--results", results, "--traces", traces,
		"--summary", summary, "--exclude-ids", suspects, "--student-url", srv.BaseURL(), "--student-model", "m",
		"--cache", filepath.Join(dir, "c.db"), "--student-retries", "0"}
	code, out, stderr := runTestCLI(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out, stderr)
	}
	for _, want := range []string{
		"accuracy            50.0% (2/4), 95% CI [15.0%, 85.0%]",
		"without suspects  66.7% (2/3)",
		"parse failures      25.0%",
		"errors              1 (parse_failure 1)",
		"plan calls/item     1.25", // the garbage item is retried once
		"student requests    5 sent (1.25/item), 0 retries, 0 cache hits",
		"latency             p50",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	var rep struct {
		Accuracy struct{ Correct, N int }
	}
	b, _ := os.ReadFile(summary)
	if err := json.Unmarshal(b, &rep); err != nil || rep.Accuracy.Correct != 2 || rep.Accuracy.N != 4 {
		t.Errorf("summary file %s: %v", b, err)
	}
	if lines := strings.Count(readFile(t, results), "\n"); lines != 5 {
		t.Errorf("%d result lines, want a header and 4 results", lines)
	}
	if lines := strings.Count(readFile(t, traces), "\n"); lines != 4 {
		t.Errorf("%d trace lines", lines)
	}

	// Running again without --resume refuses to touch the results.
	if code, _, stderr := runTestCLI(t, args...); code != 1 || !strings.Contains(stderr, "--resume") {
		t.Errorf("rerun without --resume: exit %d, %s", code, stderr)
	}
	// With --resume everything is done already: no student calls.
	calls := srv.Calls()
	code, out, _ = runTestCLI(t, append(args, "--resume")...)
	if code != 0 || srv.Calls() != calls || !strings.Contains(out, "(4 resumed)") {
		t.Errorf("resume: exit %d, %d new calls:\n%s", code, srv.Calls()-calls, out)
	}

	// trace show renders every run, and --failed only the failing one.
	code, out, _ = runTestCLI(t, "trace", "show", traces, "--color", "never")
	if code != 0 || strings.Count(out, "▶ run") != 4 {
		t.Errorf("trace show: exit %d\n%s", code, out)
	}
	code, out, _ = runTestCLI(t, "trace", "show", "--failed", traces)
	if code != 0 || strings.Count(out, "▶ run") != 1 || !strings.Contains(out, "parse error:") || strings.Contains(out, "\x1b[") {
		t.Errorf("trace show --failed: exit %d\n%s", code, out)
	}
	if code, out, _ = runTestCLI(t, "trace", "show", "--color", "always", "--id", "12", traces); code != 0 || !strings.Contains(out, "\x1b[31m") {
		t.Errorf("--color always: no colour in\n%s", out)
	}
}

func TestEvalUsage(t *testing.T) {
	clearStudentEnv(t)
	dir := t.TempDir()
	data := writeData(t, dir)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"eval", zeroShot}, "--data"},
		{[]string{"eval", zeroShot, "--data", data, "--metric", "fuzzy"}, "unknown metric"},
		{[]string{"eval", zeroShot, "--data", filepath.Join(dir, "nope.jsonl")}, "--data"},
		{[]string{"eval", zeroShot, "--data", data, "--label-field", "answer", "--student-model", "m", "--cache-mode", "off"}, `no field "answer"`},
	}
	for _, tt := range tests {
		code, _, stderr := runTestCLI(t, tt.args...)
		if code == 0 || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tt.args, code, stderr, tt.want)
		}
	}
}

func TestEvalAgainstSimulator(t *testing.T) {
	clearStudentEnv(t)
	url := startSimulator(t)
	dir := t.TempDir()
	code, out, stderr := runTestCLI(t, "eval", zeroShot, "--data", "../../testdata/gsm-hard/slice.jsonl", "--limit", "20",
		"--exclude-ids", "../../testdata/gsm-hard/suspect-labels.json", "--results", filepath.Join(dir, "r.jsonl"),
		"--student-url", url, "--student-model", "slm-1.5b", "--cache", filepath.Join(dir, "c.db"))
	if code != 0 || !strings.Contains(out, "20 of 20 items") || !strings.Contains(out, "without suspects") {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
