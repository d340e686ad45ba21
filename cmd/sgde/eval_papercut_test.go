package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEvalDefaultResultsPerPlan: two plans evaluated in a row in one folder without --results
// each get their own results file, and resuming one never borrows the other's results.
func TestEvalDefaultResultsPerPlan(t *testing.T) {
	clearStudentEnv(t)
	srv := answerServer(t)
	dir := t.TempDir()
	data := writeData(t, dir)
	src, err := os.ReadFile(zeroShot)
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.yaml")
	os.WriteFile(other, []byte(strings.Replace(string(src), "Think step by step", "Think carefully", 1)), 0o644)
	zs, err := filepath.Abs(zeroShot)
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	t.Chdir(work)
	common := []string{"--data", data, "--student-url", srv.BaseURL(), "--student-model", "m",
		"--cache", filepath.Join(dir, "c.db"), "--student-retries", "0", "-q"}
	for _, plan := range []string{zs, other} {
		if code, out, stderr := runTestCLI(t, append([]string{"eval", plan}, common...)...); code != 0 {
			t.Fatalf("eval %s: exit %d: %s %s", plan, code, out, stderr)
		}
	}
	files, _ := filepath.Glob(filepath.Join(work, "*.results.jsonl"))
	if len(files) != 2 {
		t.Fatalf("results files %v, want one per plan", files)
	}
	// Resuming the second plan on each file: its own continues, the first plan's is refused.
	refused := 0
	for _, f := range files {
		code, _, stderr := runTestCLI(t, append([]string{"eval", other, "--resume", "--results", f}, common...)...)
		if code != 0 {
			if !strings.Contains(stderr, "plan digest") {
				t.Errorf("refusal does not say why: %q", stderr)
			}
			refused++
		}
	}
	if refused != 1 {
		t.Errorf("%d of the 2 files refused, want exactly the other plan's", refused)
	}
}

// TestCacheModeWordAsPath: "--cache off" means no cache, and another mode word given as a
// path is refused instead of creating a database of that name.
func TestCacheModeWordAsPath(t *testing.T) {
	clearStudentEnv(t)
	srv := answerServer(t)
	dir := t.TempDir()
	data := writeData(t, dir)
	zs, _ := filepath.Abs(zeroShot)
	t.Chdir(t.TempDir())
	common := []string{"eval", zs, "--data", data, "--student-url", srv.BaseURL(), "--student-model", "m", "--student-retries", "0", "-q"}
	code, out, stderr := runTestCLI(t, append(common, "--cache", "off", "--results", filepath.Join(dir, "r1.jsonl"))...)
	if code != 0 {
		t.Fatalf("--cache off: exit %d %s %s", code, out, stderr)
	}
	if _, err := os.Stat("off"); err == nil {
		t.Error(`--cache off created a database named "off"`)
	}
	code, _, stderr = runTestCLI(t, append(common, "--cache", "replay", "--results", filepath.Join(dir, "r2.jsonl"))...)
	if code == 0 || !strings.Contains(stderr, "--cache-mode replay") {
		t.Errorf("--cache replay: exit %d %q", code, stderr)
	}
	if _, err := os.Stat("replay"); err == nil {
		t.Error(`--cache replay created a database named "replay"`)
	}
}
