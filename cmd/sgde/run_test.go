package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sgde-project/sgde/internal/simulator"
	"github.com/sgde-project/sgde/runtime/llm/llmtest"
)

const zeroShot = "../../testdata/plans/gsm-hard-zero-shot.yaml"

// runCLI drives the CLI in-process with a private cache and no student settings from the
// environment.
func runTestCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), append([]string{"sgde"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func clearStudentEnv(t *testing.T) {
	for _, k := range []string{"SGDE_STUDENT_URL", "SGDE_STUDENT_MODEL", "SGDE_STUDENT_API_KEY"} {
		t.Setenv(k, "")
	}
}

// answerServer is a test endpoint answering "The answer is N." where N is the number of
// characters of the question, or garbage when the question mentions "garbage".
func answerServer(t *testing.T) *llmtest.Server {
	srv := llmtest.NewServer()
	t.Cleanup(srv.Close)
	srv.Answer = func(req llmtest.Request) string {
		q := req.Messages[len(req.Messages)-1].Content
		if strings.Contains(q, "garbage") {
			return "I refuse."
		}
		_, after, _ := strings.Cut(q, "Problem: ")
		return fmt.Sprintf("Let me think. The answer is %d.", len(strings.TrimSpace(after)))
	}
	return srv
}

func TestRunCommand(t *testing.T) {
	clearStudentEnv(t)
	srv := answerServer(t)
	dir := t.TempDir()
	student := []string{"--student-url", srv.BaseURL(), "--student-model", "m", "--cache", filepath.Join(dir, "c.db"), "--student-retries", "0"}
	inputs := filepath.Join(dir, "in.jsonl")
	os.WriteFile(inputs, []byte(`{"question":"abcd"}`+"\n"+`{"question":"garbage"}`+"\n"+`{"q":1}`+"\n"+`[1]`+"\n"), 0o644)

	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"one input", append([]string{"run", zeroShot, "--input", `{"question":"abc"}`}, student...), 0, "3\n", ""},
		{"flags before the plan", append(append([]string{"run"}, student...), zeroShot, "--input", `{"question":"abcde"}`), 0, "5\n", ""},
		{"missing input", append([]string{"run", zeroShot, "--input", `{}`}, student...), 2, "", `missing input "question"`},
		{"mistyped input", append([]string{"run", zeroShot, "--input", `{"question": 7}`}, student...), 2, "", `input "question": want string, got number 7`},
		{"not json", append([]string{"run", zeroShot, "--input", `{question`}, student...), 2, "", "--input: not a JSON object"},
		{"malformed output", append([]string{"run", zeroShot, "--input", `{"question":"garbage"}`}, student...), 1, "", `node "answer": parse_failure`},
		{"no endpoint", []string{"run", zeroShot, "--input", `{"question":"a"}`, "--student-model", "m", "--cache-mode", "off"}, 2, "", "set --student-url"},
		{"no plan", append([]string{"run", "--input", `{"question":"a"}`}, student...), 2, "", "exactly one plan file"},
		{"both inputs", append([]string{"run", zeroShot, "--input", `{}`, "--inputs", inputs}, student...), 2, "", "exactly one of"},
		{"inputs file", append([]string{"run", zeroShot, "--inputs", inputs}, student...), 1,
			`{"line":1,"output":4}` + "\n", "3 of the runs failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runTestCLI(t, tt.args...)
			if code != tt.wantCode || !strings.HasPrefix(stdout, tt.wantStdout) || !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, stdout %q..., stderr containing %q", code, stdout, stderr, tt.wantCode, tt.wantStdout, tt.wantStderr)
			}
		})
	}
}

func TestRunUnreachableEndpoint(t *testing.T) {
	clearStudentEnv(t)
	srv := llmtest.NewServer()
	url := srv.BaseURL()
	srv.Close()
	code, _, stderr := runTestCLI(t, "run", zeroShot, "--input", `{"question":"a"}`, "--student-url", url, "--student-model", "m",
		"--student-retries", "1", "--cache-mode", "off")
	if code != 1 || !strings.Contains(stderr, `node "answer": student_unavailable`) {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

func TestRunReplayOffline(t *testing.T) {
	clearStudentEnv(t)
	srv := answerServer(t)
	cachePath := filepath.Join(t.TempDir(), "c.db")
	in := `{"question":"abcdef"}`
	if code, _, stderr := runTestCLI(t, "run", zeroShot, "--input", in, "--student-model", "m", "--cache", cachePath, "--cache-mode", "replay"); code != 1 || !strings.Contains(stderr, "cache_miss") {
		t.Fatalf("replay of an empty cache: exit %d, %s", code, stderr)
	}
	if code, out, stderr := runTestCLI(t, "run", zeroShot, "--input", in, "--student-url", srv.BaseURL(), "--student-model", "m", "--cache", cachePath); code != 0 || out != "6\n" {
		t.Fatalf("filling run: exit %d, %q %s", code, out, stderr)
	}
	srv.Close()
	code, out, stderr := runTestCLI(t, "run", zeroShot, "--input", in, "--student-model", "m", "--cache", cachePath, "--cache-mode", "replay")
	if code != 0 || out != "6\n" {
		t.Fatalf("offline replay: exit %d, %q %s", code, out, stderr)
	}
}

func TestRunAgainstSimulator(t *testing.T) {
	clearStudentEnv(t)
	url := startSimulator(t)
	rec := firstRecord(t)
	in, _ := json.Marshal(map[string]any{"question": rec["input"]})
	code, out, stderr := runTestCLI(t, "run", zeroShot, "--input", string(in), "--student-url", url, "--student-model", "slm-1.5b",
		"--cache-mode", "off")
	if code != 0 || strings.TrimSpace(out) == "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, stderr)
	}
}

func startSimulator(t *testing.T) string {
	t.Helper()
	know, err := simulator.LoadKnowledgeFile("../../testdata/gsm-hard/slice.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := simulator.Start(context.Background(), "127.0.0.1:0", simulator.NewConfig(know, simulator.DefaultProfile()).WithSeed(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv.URL()
}

func firstRecord(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile("../../testdata/gsm-hard/slice.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	var rec map[string]any
	if err := json.Unmarshal(line, &rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

// TestRunCodeLimitExit3 runs the compiled example plan with a 1ms wall limit on its code node:
// every sample's code call is stopped, and run exits 3 naming the nodes.
func TestRunCodeLimitExit3(t *testing.T) {
	if testing.Short() {
		t.Skip("builds WebAssembly; skipped with -short")
	}
	clearStudentEnv(t)
	src, err := os.ReadFile("../../testdata/plans/gsm-hard-compiled.yaml")
	if err != nil {
		t.Fatal(err)
	}
	plan := filepath.Join(t.TempDir(), "limited.yaml")
	os.WriteFile(plan, bytes.Replace(src, []byte("        timeout: 5s"), []byte("        timeout: 1ms"), 1), 0o644)
	srv := llmtest.NewServer()
	t.Cleanup(srv.Close)
	srv.Answer = func(llmtest.Request) string {
		return "```python\ndef solution():\n    n = 0\n    for i in range(100000):\n        n += i\n    return n\n```"
	}
	code, _, stderr := runTestCLI(t, "run", plan, "--input", `{"question":"q"}`, "--student-url", srv.BaseURL(),
		"--student-model", "m", "--cache-mode", "off")
	if code != exitLimit || !strings.Contains(stderr, `node "evaluate": code_timeout`) {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

func TestRunEngineFlag(t *testing.T) {
	clearStudentEnv(t)
	code, _, stderr := runTestCLI(t, "run", "../../testdata/plans/gsm-hard-compiled.yaml", "--input", `{"question":"q"}`,
		"--student-url", "http://127.0.0.1:1/v1", "--student-model", "m", "--cache-mode", "off", "--engine", "v8")
	if code != exitUsage || !strings.Contains(stderr, "--engine must be") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}
