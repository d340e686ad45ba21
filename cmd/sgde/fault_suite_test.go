package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sgde-project/sgde/internal/faultproxy"
	"github.com/sgde-project/sgde/internal/simulator"
	"github.com/sgde-project/sgde/runtime"
)

// The fault suite: evals through a fault-injecting proxy in front of the simulator must end
// with the answers of a fault-free eval, every item recorded exactly once, the requests the
// report counts equal to the requests the proxy saw, and a non-zero exit whenever a result
// could not be recorded. `make test` runs a small variant; SGDE_TEST_LONG a larger one.

func startQuietSimulator(t *testing.T) string {
	t.Helper()
	know, err := simulator.LoadKnowledgeFile("../../testdata/gsm-hard/slice.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := simulator.Start(context.Background(), "127.0.0.1:0", simulator.NewConfig(know, simulator.DefaultProfile()).WithSeed(1).WithLatencyScale(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv.URL()
}

type evalRun struct {
	code      int
	stdout    string
	stderr    string
	results   []runtime.ItemResult // every line, in file order
	requests  int                  // student_requests of the summary
	resultsOK bool
}

// faultEval runs sgde eval of the zero-shot plan on the first n records against url.
func faultEval(t *testing.T, dir, name, url string, n, retries int, extra ...string) evalRun {
	t.Helper()
	results, summary := filepath.Join(dir, name+".jsonl"), filepath.Join(dir, name+".summary.json")
	args := append([]string{"eval", zeroShot, "--data", "../../testdata/gsm-hard/slice.jsonl", "--limit", fmt.Sprint(n),
		"--results", results, "--summary", summary, "--student-url", url, "--student-model", "slm-1.5b",
		"--cache-mode", "off", "--student-timeout", "1s", "--student-retries", fmt.Sprint(retries), "-q"}, extra...)
	var r evalRun
	r.code, r.stdout, r.stderr = runTestCLI(t, args...)
	if _, rs, err := runtime.ReadResults(results); err == nil {
		r.resultsOK = true
		r.results = rs
		// ReadResults keeps the last line per id; count the raw lines too.
		r.results = rawResults(t, results)
	}
	var s struct {
		Requests int `json:"student_requests"`
	}
	if b, err := os.ReadFile(summary); err == nil {
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatalf("summary %s: %v", b, err)
		}
		r.requests = s.Requests
	} else {
		r.requests = -1
	}
	return r
}

func rawResults(t *testing.T, path string) []runtime.ItemResult {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []runtime.ItemResult
	for _, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) == "" || strings.Contains(line, `"sgde_results"`) {
			continue
		}
		var r runtime.ItemResult
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("results line %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

func predictions(t *testing.T, rs []runtime.ItemResult) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, r := range rs {
		if _, dup := out[r.ID]; dup {
			t.Errorf("item %s recorded twice", r.ID)
		}
		b, _ := json.Marshal(r.Prediction)
		out[r.ID] = fmt.Sprintf("%s %s", b, r.ErrorKind)
	}
	return out
}

func TestFaultSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("fault suite")
	}
	clearStudentEnv(t)
	n, rate, retries := 16, 0.5, 10
	if os.Getenv("SGDE_TEST_LONG") != "" {
		n, rate, retries = 60, 0.6, 16
	}
	url := startQuietSimulator(t)
	dir := t.TempDir()
	ref := faultEval(t, dir, "ref", url, n, 0)
	if ref.code != exitOK || len(ref.results) != n {
		t.Fatalf("fault-free eval: exit %d, %d results\n%s\n%s", ref.code, len(ref.results), ref.stdout, ref.stderr)
	}
	want := predictions(t, ref.results)

	t.Run("every fault", func(t *testing.T) {
		p, err := faultproxy.New(url, rate, 42)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		got := faultEval(t, dir, "faults", p.URL(), n, retries)
		if got.code != exitOK {
			t.Fatalf("exit %d under %.0f%% faults\n%s\n%s", got.code, 100*rate, got.stdout, got.stderr)
		}
		if len(got.results) != n {
			t.Errorf("%d result lines for %d items", len(got.results), n)
		}
		gp := predictions(t, got.results)
		for id, w := range want {
			if gp[id] != w {
				t.Errorf("item %s: %s under faults, %s without", id, gp[id], w)
			}
		}
		if int64(got.requests) != p.Requests() {
			t.Errorf("report counts %d student requests, the proxy saw %d", got.requests, p.Requests())
		}
		inj := p.Injected()
		kinds := 0
		for f, k := range inj {
			if f != faultproxy.None && k > 0 {
				kinds++
			}
		}
		if kinds < 4 {
			t.Errorf("only %d kinds of fault injected (%v): the suite exercises little", kinds, inj)
		}
		t.Logf("injected %v over %d requests", inj, p.Requests())
	})

	t.Run("endpoint down", func(t *testing.T) {
		p, err := faultproxy.New(url, 1, 1, faultproxy.ServerError)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		got := faultEval(t, dir, "down", p.URL(), 3, 2)
		if got.code == exitOK || !strings.Contains(got.stderr, "outside the plan") {
			t.Errorf("every item failed with the endpoint down, exit %d: %s", got.code, got.stderr)
		}
		// 3 items x 2 executions of the node (retries: 1) x 3 requests (--student-retries 2).
		if got.requests != 18 || p.Requests() != 18 {
			t.Errorf("report counts %d requests, proxy saw %d, want 18", got.requests, p.Requests())
		}
		// Those failures are not kept as done: with the endpoint back, resume reruns them.
		again := faultEval(t, dir, "down", url, 3, 0, "--resume")
		if again.code != exitOK || !strings.Contains(again.stdout, "3 run again") {
			t.Errorf("resume after the outage: exit %d\n%s\n%s", again.code, again.stdout, again.stderr)
		}
	})

	t.Run("results cannot be recorded", func(t *testing.T) {
		if _, err := os.Stat("/dev/full"); err != nil {
			t.Skip("no /dev/full")
		}
		p, err := faultproxy.New(url, 0, 1)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		code, _, stderr := runTestCLI(t, "eval", zeroShot, "--data", "../../testdata/gsm-hard/slice.jsonl", "--limit", "3",
			"--results", "/dev/full", "--student-url", p.URL(), "--student-model", "slm-1.5b", "--cache-mode", "off", "-q")
		if code == exitOK || !strings.Contains(stderr, "no space left") {
			t.Errorf("results on a full disk: exit %d, %s", code, stderr)
		}
		if p.Requests() != 0 {
			t.Errorf("%d student requests spent on results that could not be kept", p.Requests())
		}
	})
}
