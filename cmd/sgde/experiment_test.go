package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExperimentCLI maps flags to a tiny study on one family and refuses bad settings with a
// usage error before doing any work.
func TestExperimentCLI(t *testing.T) {
	base := []string{"experiment", "-q", "--task", "../../testdata/tasks/bbh/navigate.yaml", "--data", "../../testdata/bbh/navigate.jsonl"}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"bad size", []string{"--sizes", "8,x"}},
		{"no seeds", []string{"--seeds", "0"}},
		{"url without model", []string{"--student-url", "http://127.0.0.1:1/v1"}},
		{"teacher URL without model", []string{"--teacher", "http://127.0.0.1:1/v1"}},
		{"argument", []string{"extra"}},
	} {
		dir := filepath.Join(t.TempDir(), "exp")
		code, _, stderr := runTestCLI(t, append(append(append([]string{}, base...), "-o", dir), tc.args...)...)
		if code != exitUsage {
			t.Errorf("%s: exit %d, want %d (%s)", tc.name, code, exitUsage, stderr)
		}
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("%s: wrote %s before refusing", tc.name, dir)
		}
	}
	foreign := t.TempDir()
	if err := os.WriteFile(filepath.Join(foreign, "mine.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := runTestCLI(t, append(base, "-o", foreign, "--sizes", "4", "--seeds", "1")...); code != exitUsage {
		t.Errorf("a foreign folder was accepted: exit %d", code)
	}

	dir := filepath.Join(t.TempDir(), "exp")
	args := append(base, "-o", dir, "--sizes", "4", "--seeds", "1", "--heldout", "20", "--test", "20", "--ablation=false")
	code, stdout, stderr := runTestCLI(t, args...)
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"simulated", "n=4", "PAC bound", "recorded", "report:"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	for _, f := range []string{"experiment.html", "experiment.txt", "runs/n004-s7/run.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
}
