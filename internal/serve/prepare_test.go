package serve

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/wasm"
)

// checkingBuilder "builds" by running the sandbox's source checks (parse, imports), the part
// of a build that refuses a syntax error, and counts the builds.
type checkingBuilder struct{ builds atomic.Int64 }

func (b *checkingBuilder) Build(_ context.Context, src []byte, name string) (*wasm.Artifact, error) {
	b.builds.Add(1)
	if err := wasm.Validate(src, name+".go"); err != nil {
		return nil, err
	}
	return &wasm.Artifact{}, nil
}

func buildingOptions(t *testing.T, b runtime.Builder) Options {
	return Options{NewRunner: noRunner(t), PreparePlan: func(ctx context.Context, p *plans.Plan, _ string) error {
		_, _, err := runtime.BuildCode(ctx, b, p)
		return err
	}}
}

// TestReloadBuildsCode: a served plan whose code no longer builds is refused by the reload (the
// old set stays) and by the start-up; every code node is built before the set is served.
func TestReloadBuildsCode(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("testdata/plans")); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "secret.yaml"))
	b := &checkingBuilder{}
	opts := buildingOptions(t, b)
	opts.PlansDir = dir
	s := newTestServer(t, opts)
	if b.builds.Load() != 2 {
		t.Errorf("%d code nodes built before serving, want 2 (add, shout)", b.builds.Load())
	}
	models := func() string {
		return strings.Join(modelIDs(t, do(t, s.Handler(), "GET", "/v1/models", bobKey, "")), ",")
	}
	before := models()
	src := filepath.Join(dir, "code", "shout.go")
	good, _ := os.ReadFile(src)
	os.WriteFile(src, []byte(strings.Replace(string(good), "func ", "func (", 1)), 0o644)
	err := s.Reload()
	if err == nil || !strings.Contains(err.Error(), `"shout"`) || !strings.Contains(err.Error(), runtime.KindBuild) {
		t.Fatalf("reload with code that does not build: %v", err)
	}
	if got := models(); got != before {
		t.Errorf("a refused reload changed the plans: %s -> %s", before, got)
	}
	if _, err := New(Options{PlansDir: dir, Tenants: testTenants(t, ""), NewRunner: opts.NewRunner, PreparePlan: opts.PreparePlan}); err == nil {
		t.Error("start-up with code that does not build succeeded")
	}
	os.WriteFile(src, good, 0o644)
	if err := s.Reload(); err != nil {
		t.Fatalf("reload after the fix: %v", err)
	}
}

const llmPlan = `apiVersion: sgde/v1
kind: Plan
metadata: {name: ask}
inputs:
  - {name: q, type: string}
output: a
nodes:
  - id: a
    substrate: llm
    llm:
      prompt: "{{ inputs.q }}"
      parser: {type: text}
`

// TestNoStudentRefusesLLMPlans: without a student a plan with llm nodes could only fail with
// 502 on every call: start-up and reload refuse it, naming it.
func TestNoStudentRefusesLLMPlans(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "ask.yaml"), []byte(llmPlan), 0o644)
	_, err := New(Options{PlansDir: dir, Tenants: testTenants(t, ""), NewRunner: noRunner(t), NoStudent: true})
	if err == nil || !strings.Contains(err.Error(), `plan "ask" has llm nodes but no student`) {
		t.Fatalf("start-up: %v", err)
	}
	empty := t.TempDir()
	s := newTestServer(t, Options{PlansDir: empty, NewRunner: noRunner(t), NoStudent: true})
	os.WriteFile(filepath.Join(empty, "ask.yaml"), []byte(llmPlan), 0o644)
	if err := s.Reload(); err == nil {
		t.Fatal("reload accepted an llm plan without a student")
	}
	// With a student it loads.
	newTestServer(t, Options{PlansDir: dir, NewRunner: noRunner(t)})
}

// TestRunErrorStatuses: the status and code of every failure class, and the README lists each
// status a plan run can fail with.
func TestRunErrorStatuses(t *testing.T) {
	node := func(kind string) error {
		return &runtime.NodeError{NodeID: "n", Kind: kind, Err: errors.New("x")}
	}
	expired, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	<-expired.Done()
	tests := []struct {
		name     string
		ctx      context.Context
		err      error
		status   int
		code     string
		errorTyp string
	}{
		{"bad input", context.Background(), node(runtime.KindInput), 400, runtime.KindInput, "invalid_request_error"},
		{"parse", context.Background(), node(runtime.KindParse), 422, runtime.KindParse, "run_error"},
		{"code trap", context.Background(), node("code_trap"), 422, "code_trap", "run_error"},
		{"node timeout", context.Background(), node(runtime.KindTimeout), 504, runtime.KindTimeout, "timeout"},
		{"run timeout", expired, node(runtime.KindCanceled), 504, "run_timeout", "timeout"},
		{"student down", context.Background(), node(runtime.KindStudentUnavailable), 502, runtime.KindStudentUnavailable, "server_error"},
		{"student 4xx", context.Background(), node(runtime.KindStudentRejected), 502, runtime.KindStudentRejected, "server_error"},
		{"build", context.Background(), node(runtime.KindBuild), 500, runtime.KindBuild, "server_error"},
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := runError(tt.ctx, tt.err)
			if e.status != tt.status || e.Code != tt.code || e.Type != tt.errorTyp {
				t.Errorf("got %d %s %s, want %d %s %s", e.status, e.Code, e.Type, tt.status, tt.code, tt.errorTyp)
			}
			if !strings.Contains(string(readme), fmt.Sprintf("%d ", e.status)) {
				t.Errorf("README does not list status %d (%s)", e.status, http.StatusText(e.status))
			}
		})
	}
	if !strings.Contains(string(readme), "run_timeout") {
		t.Error("README does not name the run_timeout code")
	}
}
