package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sgde-project/sgde/compiler/report"
)

// TestInvocationPinsInputs: invocation.json holds absolute paths (a resume works from any
// folder) and the inputs' digests (a resume on changed data is refused).
func TestInvocationPinsInputs(t *testing.T) {
	clearStudentEnv(t)
	src := t.TempDir()
	for _, f := range []string{"task.yaml", "train.jsonl", "heldout.jsonl"} {
		os.WriteFile(filepath.Join(src, f), []byte(f+"\n"), 0o644)
	}
	t.Chdir(src)
	inv := report.Invocation{Task: "task.yaml", Train: "train.jsonl", Heldout: "heldout.jsonl", Teacher: "library"}
	if err := inv.Pin(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{inv.Task, inv.Train, inv.Heldout} {
		if !filepath.IsAbs(p) {
			t.Errorf("path %q is not absolute", p)
		}
	}
	if len(inv.Digests) != 3 {
		t.Errorf("digests %v", inv.Digests)
	}
	out := t.TempDir()
	b, _ := json.Marshal(inv)
	os.WriteFile(filepath.Join(out, report.FileInvocation), b, 0o644)
	t.Chdir(t.TempDir()) // another folder: the paths still resolve
	if err := inv.CheckPinned(); err != nil {
		t.Fatalf("unchanged inputs refused: %v", err)
	}
	os.WriteFile(filepath.Join(src, "train.jsonl"), []byte("other data\n"), 0o644)
	code, _, stderr := runTestCLI(t, "compile", "--resume", out)
	if code == exitOK || !strings.Contains(stderr, "train.jsonl changed") {
		t.Errorf("resume on changed data: exit %d, %q", code, stderr)
	}
}

// TestDemoInterruptKeepsPreviousAndHints: Ctrl-C during a demo says how to continue, and the
// previous demo's output is still there.
func TestDemoInterruptKeepsPreviousAndHints(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the simulator")
	}
	dir := filepath.Join(t.TempDir(), "demo")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, report.FileDemoMarker), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(dir, "plan.yaml"), []byte("the old plan"), 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	var out, errb strings.Builder
	code := run(ctx, []string{"sgde", "demo", "-q", "-o", dir, "--data", "../../testdata/gsm-hard/slice.jsonl",
		"--task", "../../testdata/tasks/gsm-hard.yaml", "--suspects", "", "--train", "24", "--heldout", "40", "--test", "30"}, &out, &errb)
	if code == exitOK {
		t.Skip("the demo finished before the interruption")
	}
	if !strings.Contains(errb.String(), "sgde demo --resume -o "+dir) {
		t.Errorf("no resume hint: %s", errb.String())
	}
	kept := filepath.Join(dir+".previous", "plan.yaml")
	if b, err := os.ReadFile(kept); err != nil || string(b) != "the old plan" {
		if b, err2 := os.ReadFile(filepath.Join(dir, "plan.yaml")); err2 != nil || string(b) != "the old plan" {
			t.Errorf("the previous demo is gone: %v / %v", err, err2)
		}
	}
}
