package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCompileUsage(t *testing.T) {
	clearStudentEnv(t)
	dir := t.TempDir()
	for _, args := range [][]string{
		{"compile"},
		{"compile", "--task", "x.yaml", "--train", "t", "--heldout", "h", "--student-url", "http://x/v1", "--student-model", "m"},
		{"compile", "--task", "x.yaml", "--train", "t", "--heldout", "h", "--student-url", "http://x/v1", "--student-model", "m", "-o", dir, "--actions", "teleport"},
		{"compile", "--task", "x.yaml", "--train", "t", "--heldout", "h", "--student-url", "http://x/v1", "--student-model", "m", "-o", dir, "--teacher", "http://t/v1"},
		{"compile", "--task", "x.yaml", "--train", "t", "--heldout", "h", "--student-url", "http://x/v1", "--student-model", "m", "-o", dir, "--alpha", "0"},
		{"compile", "extra"},
	} {
		if code, _, stderr := runTestCLI(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d (stderr %q)", args, code, exitUsage, stderr)
		}
	}
	if code, _, stderr := runTestCLI(t, "compile", "--resume", filepath.Join(dir, "nothing")); code != exitFailure || !strings.Contains(stderr, "resume") {
		t.Errorf("resume of an empty directory: exit %d, stderr %q", code, stderr)
	}
}

// TestDemoSmall runs the demo driver end to end on a small split, then resumes the finished
// compile, which must report the same table without new student requests.
func TestDemoSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs code nodes")
	}
	dir := filepath.Join(t.TempDir(), "demo")
	args := []string{"demo", "-o", dir, "-q", "--data", "../../testdata/gsm-hard/slice.jsonl", "--task", "../../testdata/tasks/gsm-hard.yaml",
		"--suspects", "../../testdata/gsm-hard/suspect-labels.json", "--train", "24", "--heldout", "40", "--test", "30", "--iterations", "2"}
	code, stdout, stderr := runTestCLI(t, args...)
	if code != exitOK {
		t.Fatalf("demo: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	for _, want := range []string{"student is simulated", "zero-shot", "few-shot bootstrap", "sgde compiled", "PAC: k=", "The compiled plan on two test questions", "--- item"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, stdout)
		}
	}
	for _, f := range []string{"plan.yaml", "compile-log.jsonl", "report.html", "baselines.json", "checkpoint.json", "invocation.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing output: %v", err)
		}
	}
	if code, stdout, stderr := runTestCLI(t, "validate", filepath.Join(dir, "plan.yaml")); code != exitOK {
		t.Errorf("compiled plan does not validate: %s %s", stdout, stderr)
	}
	var before struct{ Rows []struct{ Correct int } }
	b, _ := os.ReadFile(filepath.Join(dir, "baselines.json"))
	if err := json.Unmarshal(b, &before); err != nil || len(before.Rows) != 3 {
		t.Fatalf("baselines.json: %v %s", err, b)
	}
	code, stdout2, stderr := runTestCLI(t, append(args, "--resume")...)
	if code != exitOK {
		t.Fatalf("demo --resume: exit %d\n%s\n%s", code, stdout2, stderr)
	}
	var after struct{ Rows []struct{ Correct int } }
	b, _ = os.ReadFile(filepath.Join(dir, "baselines.json"))
	_ = json.Unmarshal(b, &after)
	for i := range before.Rows {
		if before.Rows[i].Correct != after.Rows[i].Correct {
			t.Errorf("row %d changed on resume: %d -> %d", i, before.Rows[i].Correct, after.Rows[i].Correct)
		}
	}
}

// BenchmarkDemo times the full demo (default split, library teacher, simulated student) with
// warm build caches: the goal is under 2 minutes on a 2-core machine.
//
//	go test ./cmd/sgde -run '^$' -bench BenchmarkDemo -benchtime 1x
func BenchmarkDemo(b *testing.B) {
	for i := 0; i < b.N; i++ {
		dir := filepath.Join(b.TempDir(), "demo")
		var out, errb strings.Builder
		code := run(b.Context(), []string{"sgde", "demo", "-q", "-o", dir, "--data", "../../testdata/gsm-hard/slice.jsonl",
			"--task", "../../testdata/tasks/gsm-hard.yaml", "--suspects", "../../testdata/gsm-hard/suspect-labels.json"}, &out, &errb)
		if code != exitOK {
			b.Fatalf("demo: exit %d: %s", code, errb.String())
		}
	}
}

// TestHelpExamplesNameRealFiles: every file an example in a command's --help names exists in
// the repository, or is written by a command the same example runs first (sgde demo -o DIR).
func TestHelpExamplesNameRealFiles(t *testing.T) {
	for _, cmd := range []string{"compile", "eval", "graph", "run", "exec", "validate", "demo"} {
		code, out, _ := runTestCLI(t, cmd, "--help")
		if code != exitOK {
			t.Fatalf("%s --help: exit %d", cmd, code)
		}
		// Only the examples: the rest describes files (DIR/plan.yaml) rather than naming them.
		i := strings.Index(out, "Example")
		if i < 0 {
			continue
		}
		out = out[i:]
		if j := strings.Index(out, "OPTIONS:"); j >= 0 {
			out = out[:j]
		}
		produced := map[string]bool{}
		for _, f := range strings.Fields(out) {
			if strings.HasPrefix(f, "out/") && !strings.Contains(f, ".") {
				produced[f] = true // an output folder an earlier line of the example writes
			}
		}
		fields := strings.Fields(out)
		for k, f := range fields {
			f = strings.Trim(f, `"',;()`)
			if k > 0 && map[string]bool{"--results": true, "--summary": true, "--traces": true, "-o": true, "--output": true, ">": true}[fields[k-1]] {
				continue // a file the example writes
			}
			if !(strings.HasSuffix(f, ".yaml") || strings.HasSuffix(f, ".jsonl") || strings.HasSuffix(f, ".json")) {
				continue
			}
			if base := filepath.Base(f); strings.ContainsAny(f, "*{}=") || strings.ToUpper(base[:1]) == base[:1] {
				continue // a glob, a flag value or a placeholder such as FILE.jsonl
			}
			written := false
			for dir := range produced {
				written = written || strings.HasPrefix(f, dir+"/")
			}
			if written {
				continue
			}
			if _, err := os.Stat(filepath.Join("../..", f)); err != nil {
				t.Errorf("sgde %s --help names %s, which does not exist", cmd, f)
			}
		}
	}
}

// TestReadmeNewUser: what a new user following the README needs is in it: how to call the bare
// `sgde` of the examples, and that `dot` is Graphviz (with an example that needs nothing else).
func TestReadmeNewUser(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	if !strings.Contains(readme, `export PATH="$PWD/bin:$PATH"`) {
		t.Error("README does not say how to put bin/ on PATH, yet its examples call sgde bare")
	}
	lines := strings.Split(readme, "\n")
	for i, l := range lines {
		if strings.Contains(l, "| dot -T") {
			ctx := strings.ToLower(strings.Join(lines[max(i-2, 0):i+1], "\n"))
			if !strings.Contains(ctx, "graphviz") {
				t.Errorf("README line %d pipes into dot without saying it needs Graphviz: %s", i+1, l)
			}
		}
	}
	if !strings.Contains(readme, "sgde graph --format svg") {
		t.Error("README shows no SVG example that works without Graphviz")
	}
}
