//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sgde-project/sgde/internal/faultproxy"
	"github.com/sgde-project/sgde/internal/simulator"
	"github.com/sgde-project/sgde/internal/testlong"
	"github.com/sgde-project/sgde/runtime"
)

// TestEvalKill9Resume runs the sgde binary's eval through the fault proxy, kills it with
// SIGKILL twice at different moments (a torn line is likely), and resumes it: the final results
// must hold every item once as done, with the answers of a fault-free eval.
func TestEvalKill9Resume(t *testing.T) {
	testlong.Skip(t, "builds the sgde binary and kills it with SIGKILL")
	bin := filepath.Join(t.TempDir(), "sgde")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	know, err := simulator.LoadKnowledgeFile("../../testdata/gsm-hard/slice.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	// Some simulated latency, so that a kill lands with requests in flight.
	srv, err := simulator.Start(context.Background(), "127.0.0.1:0", simulator.NewConfig(know, simulator.DefaultProfile()).WithSeed(1).WithLatencyScale(0.05))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	const n = 40
	dir := t.TempDir()
	ref := faultEval(t, dir, "ref", srv.URL(), n, 0)
	if ref.code != exitOK || len(ref.results) != n {
		t.Fatalf("fault-free eval: exit %d, %d results\n%s", ref.code, len(ref.results), ref.stderr)
	}
	want := predictions(t, ref.results)

	p, err := faultproxy.New(srv.URL(), 0.3, 9)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	results := filepath.Join(dir, "killed.jsonl")
	args := []string{"eval", zeroShot, "--data", "../../testdata/gsm-hard/slice.jsonl", "--limit", fmt.Sprint(n),
		"--results", results, "--student-url", p.URL(), "--student-model", "slm-1.5b", "--cache-mode", "off",
		"--student-timeout", "1s", "--student-retries", "10", "-q"}
	lines := func() int {
		b, _ := os.ReadFile(results)
		return strings.Count(string(b), "\n") - 1 // the header
	}
	for round, killAt := range []int{8, 20} {
		resume := []string{}
		if round > 0 {
			resume = []string{"--resume"}
		}
		cmd := exec.Command(bin, append(args, resume...)...)
		cmd.Env = append(os.Environ(), "SGDE_CACHE_DIR="+t.TempDir())
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(2 * time.Minute)
		for lines() < killAt && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		t.Logf("round %d: killed with %d result lines on disk", round, lines())
	}
	cmd := exec.Command(bin, append(args, "--resume")...)
	cmd.Env = append(os.Environ(), "SGDE_CACHE_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("final resume: %v\n%s", err, out)
	}
	_, rs, err := runtime.ReadResults(results)
	if err != nil {
		t.Fatal(err)
	}
	got := predictions(t, rs)
	if len(got) != n {
		t.Errorf("%d items after the kills and the resume, want %d", len(got), n)
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("item %s: %s after kill -9 and resume, %s without", id, got[id], w)
		}
	}
	// No item was recorded as done twice (a rerun line only follows an infrastructure failure).
	done := map[string]int{}
	for _, r := range rawResults(t, results) {
		if !runtime.Infrastructure(r.ErrorKind) {
			done[r.ID]++
		}
	}
	for id, k := range done {
		if k > 1 {
			b, _ := json.Marshal(done)
			t.Errorf("item %s recorded as done %d times: %s", id, k, b)
		}
	}
}
