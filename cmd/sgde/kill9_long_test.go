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
	"github.com/sgde-project/sgde/plans"
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

// TestCompileKill9Resume kills the sgde binary's compile with SIGKILL before its first
// checkpoint and again after one, resumes it, and compares with an uninterrupted compile: the
// same plan, and a request ledger equal to what the endpoint saw across all the sessions.
func TestCompileKill9Resume(t *testing.T) {
	testlong.Skip(t, "builds the sgde binary and compiles three times")
	bin := filepath.Join(t.TempDir(), "sgde")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	url := startQuietSimulator(t)
	data := t.TempDir()
	b, err := os.ReadFile("../../testdata/gsm-hard/slice.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	recs := strings.SplitAfter(strings.TrimSpace(string(b)), "\n")
	train, held := filepath.Join(data, "train.jsonl"), filepath.Join(data, "heldout.jsonl")
	os.WriteFile(train, []byte(strings.Join(recs[:24], "")+"\n"), 0o644)
	os.WriteFile(held, []byte(strings.Join(recs[24:64], "")+"\n"), 0o644)
	cacheDir := t.TempDir()
	compile := func(dir, student string, extra ...string) *exec.Cmd {
		args := append([]string{"compile", "--task", "../../testdata/tasks/gsm-hard.yaml", "--train", train, "--heldout", held,
			"--teacher", "library", "--student-url", student, "--student-model", "slm-1.5b", "-o", dir,
			"--iterations", "2", "--candidates", "2", "--probe", "4", "-q"}, extra...)
		if len(extra) > 0 && extra[0] == "--resume" {
			args = []string{"compile", "--resume", dir, "-q"}
		}
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "SGDE_CACHE_DIR="+cacheDir)
		return cmd
	}
	whole := filepath.Join(t.TempDir(), "whole")
	if out, err := compile(whole, url).CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted compile: %v\n%s", err, out)
	}

	p, err := faultproxy.New(url, 0, 1) // counts requests, injects nothing
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	dir := filepath.Join(t.TempDir(), "killed")
	exists := func(name string) bool { _, err := os.Stat(filepath.Join(dir, name)); return err == nil }
	run := func(cmd *exec.Cmd, until func() bool) {
		t.Helper()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(5 * time.Minute); !until() && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}
	// Killed before the first checkpoint: some requests sent, nothing checkpointed.
	run(compile(dir, p.URL()), func() bool { return p.Requests() >= 10 })
	if exists("checkpoint.json") {
		t.Log("the first kill came after the first checkpoint")
	}
	// Resumed (starting over), killed again after a checkpoint.
	run(compile(dir, p.URL(), "--resume"), func() bool { return exists("checkpoint.json") && p.Requests() >= 80 })
	cmd := compile(dir, p.URL(), "--resume")
	cmd.Args = append(cmd.Args, "--student-url", p.URL())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("final resume: %v\n%s", err, out)
	}
	digest := func(path string) string {
		pl, err := plansLoadNoProvenance(path)
		if err != nil {
			t.Fatal(err)
		}
		return pl
	}
	if a, b := digest(filepath.Join(whole, "plan.yaml")), digest(filepath.Join(dir, "plan.yaml")); a != b {
		t.Errorf("the killed and resumed compile produced another plan (%s vs %s)", b, a)
		wb, _ := os.ReadFile(filepath.Join(whole, "plan.yaml"))
		kb, _ := os.ReadFile(filepath.Join(dir, "plan.yaml"))
		wl, kl := strings.Split(string(wb), "\n"), strings.Split(string(kb), "\n")
		for i := 0; i < max(len(wl), len(kl)); i++ {
			a, b := "", ""
			if i < len(wl) {
				a = wl[i]
			}
			if i < len(kl) {
				b = kl[i]
			}
			if a != b && !strings.Contains(a, "provenance") {
				t.Logf("plan.yaml line %d:\n  uninterrupted: %s\n  killed:        %s", i+1, a, b)
			}
		}
		if keep := os.Getenv("SGDE_KEEP_KILL9"); keep != "" {
			os.CopyFS(filepath.Join(keep, "whole"), os.DirFS(whole))
			os.CopyFS(filepath.Join(keep, "killed"), os.DirFS(dir))
		}
	}
	st, err := os.Stat(filepath.Join(dir, "requests.ledger"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != p.Requests() {
		t.Errorf("the request ledger counts %d requests, the endpoint saw %d", st.Size(), p.Requests())
	}
	t.Logf("%d requests over three sessions", p.Requests())
}

// plansLoadNoProvenance is the digest of a plan file without its provenance (cost and time
// differ between two compiles of the same plan).
func plansLoadNoProvenance(path string) (string, error) {
	p, err := plans.Load(path)
	if err != nil {
		return "", err
	}
	p.Provenance = nil
	return plans.Digest(p)
}
