package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestEvalShardMerge evaluates a data set in two shards and merges them: the report is the
// unsharded one's; shards of different evals are refused.
func TestEvalShardMerge(t *testing.T) {
	clearStudentEnv(t)
	srv := answerServer(t)
	dir := t.TempDir()
	data := writeData(t, dir)
	shard := func(k, model string) (string, string) {
		results := filepath.Join(dir, "s"+strings.ReplaceAll(k, "/", "-")+model+".jsonl")
		code, out, stderr := runTestCLI(t, "eval", zeroShot, "--data", data, "--metric", "numeric", "--results", results,
			"--shard", k, "--student-url", srv.BaseURL(), "--student-model", model, "--cache-mode", "off", "--student-retries", "0")
		if code != 0 {
			t.Fatalf("shard %s: exit %d: %s %s", k, code, out, stderr)
		}
		return results, out
	}
	s0, out0 := shard("0/2", "m")
	s1, _ := shard("1/2", "m")
	if !strings.Contains(out0, "2 of 2 items") {
		t.Errorf("shard 0/2 of 4 items:\n%s", out0)
	}
	all := filepath.Join(dir, "all.jsonl")
	code, out, stderr := runTestCLI(t, "eval", "merge", "--results", all, s1, s0)
	if code != 0 {
		t.Fatalf("merge: exit %d: %s %s", code, out, stderr)
	}
	for _, want := range []string{"4 of 4 items", "accuracy            50.0% (2/4)", "errors              1 (parse_failure 1)"} {
		if !strings.Contains(out, want) {
			t.Errorf("merged report lacks %q:\n%s", want, out)
		}
	}
	if lines := strings.Count(readFile(t, all), "\n"); lines != 5 {
		t.Errorf("merged file has %d lines, want a header and 4 results", lines)
	}

	other, _ := shard("1/2", "other-model")
	for _, tt := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"eval", "merge", "--results", filepath.Join(dir, "x.jsonl"), s0, other}, exitFailure, "student_model"},
		{[]string{"eval", "merge", "--results", filepath.Join(dir, "x.jsonl"), s0}, exitFailure, "missing shards 1/2"},
		{[]string{"eval", "merge", "--results", all, s0, s1}, exitFailure, "exists"},
		{[]string{"eval", "merge", s0, s1}, exitUsage, "--results"},
		{[]string{"eval", zeroShot, "--data", data, "--shard", "2/2"}, exitUsage, "--shard"},
	} {
		if code, _, stderr := runTestCLI(t, tt.args...); code != tt.code || !strings.Contains(stderr, tt.msg) {
			t.Errorf("%v: exit %d, want %d mentioning %q:\n%s", tt.args, code, tt.code, tt.msg, stderr)
		}
	}
}
