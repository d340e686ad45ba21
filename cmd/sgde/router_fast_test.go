package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sgde-project/sgde/internal/serve"
	"github.com/sgde-project/sgde/runtime/llm/llmtest"
)

// routerStudent answers the routed-llm plan: the classifier says "choice" for questions with
// options, except that it calls questions about "blue" arithmetic (the deliberately misrouted
// group); the choice branch answers (A) about blue and (B) otherwise; arithmetic is always 7.
func routerStudent(t *testing.T) *llmtest.Server {
	srv := llmtest.NewServer()
	t.Cleanup(srv.Close)
	srv.Answer = func(req llmtest.Request) string {
		u := req.Messages[len(req.Messages)-1].Content
		switch {
		case strings.HasPrefix(u, "Is this"):
			if strings.Contains(u, "(A)") && !strings.Contains(u, "blue") {
				return "choice"
			}
			return "arith"
		case strings.HasPrefix(u, "Pick one option"):
			if strings.Contains(u, "blue") {
				return "(A)"
			}
			return "(B)"
		}
		return "The answer is 7."
	}
	return srv
}

// TestRouterRoundTripFast takes a routed plan with an llm classifier through validate, the
// canonical form, graph (mermaid and dot), run, eval (with the routing check), trace show and
// serve (the run endpoint and the OpenAI-compatible API), and compares what a user sees with
// testdata/router/roundtrip.golden. The code-classifier variant, which builds WebAssembly, is
// TestRouterRoundTrip (long).
func TestRouterRoundTripFast(t *testing.T) {
	clearStudentEnv(t)
	srv := routerStudent(t)
	const plan = "testdata/router/routed-llm.yaml"
	dir := t.TempDir()
	student := []string{"--student-url", srv.BaseURL(), "--student-model", "m", "--cache-mode", "off"}
	var transcript strings.Builder
	step := func(wantCode int, args ...string) string {
		t.Helper()
		code, stdout, stderr := runTestCLI(t, args...)
		if code != wantCode {
			t.Fatalf("sgde %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, wantCode, stdout, stderr)
		}
		shown := strings.Join(args, " ")
		shown = strings.ReplaceAll(strings.ReplaceAll(shown, strings.Join(student, " "), ""), dir, "DIR")
		transcript.WriteString("$ sgde " + strings.TrimSpace(shown) + "\n")
		return stdout
	}
	transcript.WriteString(step(0, "validate", plan) + "\n")
	canon := step(0, "validate", "--canonical", plan)
	transcript.WriteString(canon + "\n")
	// The canonical form is a plan that validates to the same digest.
	cf := filepath.Join(dir, "canonical.json")
	os.WriteFile(cf, []byte(canon), 0o644)
	_, d1, _ := runTestCLI(t, "validate", plan)
	_, d2, _ := runTestCLI(t, "validate", cf)
	if f1, f2 := strings.Fields(d1), strings.Fields(d2); len(f1) != 3 || len(f2) != 3 || f1[2] != f2[2] {
		t.Errorf("canonical form's digest %q differs from the plan's %q", d2, d1)
	}
	transcript.WriteString(step(0, "graph", plan, "--format", "mermaid") + "\n")
	transcript.WriteString(step(0, "graph", plan, "--format", "dot") + "\n")

	inputs := filepath.Join(dir, "in.jsonl")
	os.WriteFile(inputs, []byte(`{"question":"Which is red?\nOptions:\n(A) sky\n(B) blood"}`+"\n"+`{"question":"Tom has 3 apples and buys 4. How many?"}`+"\n"), 0o644)
	transcript.WriteString(step(0, append([]string{"run", plan, "--inputs", inputs}, student...)...) + "\n")

	data := filepath.Join(dir, "data.jsonl")
	os.WriteFile(data, []byte(strings.Join([]string{
		`{"idx":"red","input":"Which is red?\nOptions:\n(A) sky\n(B) blood","target":"(B)"}`,
		`{"idx":"blue","input":"Which is blue?\nOptions:\n(A) sky\n(B) blood","target":"(A)"}`,
		`{"idx":"seven","input":"Tom has 3 apples and buys 4. How many?","target":"7"}`,
		`{"idx":"eight","input":"Tom has 3 apples and buys 5. How many?","target":"8"}`,
	}, "\n")+"\n"), 0o644)
	traces, summary := filepath.Join(dir, "traces.jsonl"), filepath.Join(dir, "summary.json")
	out := step(0, append([]string{"eval", plan, "--data", data, "--metric", "exact", "--results", filepath.Join(dir, "r.jsonl"),
		"--traces", traces, "--summary", summary, "-q", "--items-in-flight", "1"}, student...)...)
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(l, "latency") && !strings.HasPrefix(l, "results") { // times and a temporary path
			transcript.WriteString(l + "\n")
		}
	}
	var sum struct {
		Misrouted int `json:"misrouted"`
		Routers   []struct {
			Misrouted int     `json:"misrouted"`
			Accuracy  float64 `json:"accuracy"`
		} `json:"routers"`
	}
	if b, err := os.ReadFile(summary); err != nil || json.Unmarshal(b, &sum) != nil || sum.Misrouted != 1 || len(sum.Routers) != 1 || sum.Routers[0].Accuracy != 0.75 {
		t.Errorf("summary: %+v (%v); want 1 misrouted item, router accuracy 0.75", sum, err)
	}
	tb, err := os.ReadFile(traces)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(tb), `"misrouted":true`); n != 1 || !strings.Contains(string(tb), `"checked":["choice"],"right":["choice"],"misrouted":true`) {
		t.Errorf("traces mark %d runs misrouted, want the blue item's:\n%s", n, tb)
	}
	for _, id := range []string{"blue", "eight"} {
		out = step(0, "trace", "show", traces, "--id", id, "--color", "never")
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "route:") || strings.Contains(l, "misrouted:") || strings.Contains(l, "routing checked:") {
				transcript.WriteString(strings.TrimSpace(l) + "\n")
			}
		}
	}

	transcript.WriteString("$ sgde serve\n" + serveRouted(t, plan, srv.BaseURL()))
	golden := "testdata/router/roundtrip.golden"
	if *updateGolden {
		if err := os.WriteFile(golden, []byte(transcript.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if transcript.String() != string(want) {
		t.Errorf("transcript differs from %s (run with -update after checking):\n%s", golden, transcript.String())
	}
}

// serveRouted serves plan with sgde serve and returns what the run endpoint (with its trace's
// route) and the chat API answer for one question of each branch.
func serveRouted(t *testing.T, plan, studentURL string) string {
	dir := t.TempDir()
	key := "sk-router-roundtrip-0123456789"
	tenants := filepath.Join(dir, "tenants.yaml")
	os.WriteFile(tenants, fmt.Appendf(nil, "tenants:\n  - {name: t1, keys: [{sha256: %s}], plans: ['*']}\n", serve.HashKey(key)), 0o644)
	plansDir := filepath.Join(dir, "plans")
	os.Mkdir(plansDir, 0o755)
	b, err := os.ReadFile(plan)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(plansDir, "routed.yaml"), b, 0o644)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var errOut strings.Builder
	go func() {
		done <- run(ctx, []string{"sgde", "serve", "--plans", plansDir, "--tenants", tenants, "--addr", addr, "--cache-mode", "off",
			"--student-url", studentURL, "--student-model", "m"}, io.Discard, &syncWriter{w: &errOut})
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	}()
	post := func(path, body string) (int, map[string]any) {
		req, _ := http.NewRequest("POST", "http://"+addr+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("serve not ready")
		}
	}
	var out strings.Builder
	for _, q := range []string{"Which is red?\nOptions:\n(A) sky\n(B) blood", "Tom has 3 apples and buys 4. How many?"} {
		qj, _ := json.Marshal(q)
		code, m := post("/v1/plans/routed-llm/run", `{"inputs":{"question":`+string(qj)+`},"trace":true}`)
		branch := ""
		if tr, ok := m["trace"].(map[string]any); ok {
			if nodes, ok := tr["nodes"].([]any); ok && len(nodes) == 2 {
				if n, ok := nodes[1].(map[string]any); ok {
					if r, ok := n["route"].(map[string]any); ok {
						branch, _ = r["branch"].(string)
					}
				}
			}
		}
		fmt.Fprintf(&out, "run %d output %v branch %s\n", code, m["output"], branch)
		code, m = post("/v1/chat/completions", `{"model":"routed-llm","messages":[{"role":"user","content":`+string(qj)+`}]}`)
		content := ""
		if cs, ok := m["choices"].([]any); ok && len(cs) == 1 {
			if c, ok := cs[0].(map[string]any); ok {
				if msg, ok := c["message"].(map[string]any); ok {
					content, _ = msg["content"].(string)
				}
			}
		}
		fmt.Fprintf(&out, "chat %d content %q\n", code, content)
	}
	return out.String()
}

// syncWriter lets the serve goroutine log while the test reads its output on failure.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
