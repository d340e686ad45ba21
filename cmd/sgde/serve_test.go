package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sgde-project/sgde/internal/serve"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/sandbox"
)

func TestServeHashKey(t *testing.T) {
	for _, tt := range []struct {
		in   string
		code int
		out  string
	}{
		{"sk-0123456789abcdef0123\n", exitOK, serve.HashKey("sk-0123456789abcdef0123") + "\n"},
		{"  sk-0123456789abcdef0123  ", exitOK, serve.HashKey("sk-0123456789abcdef0123") + "\n"},
		{"short\n", exitUsage, ""},
		{"", exitUsage, ""},
	} {
		app := newApp(io.Discard, io.Discard)
		var out, errOut bytes.Buffer
		app.Reader, app.Writer, app.ErrWriter = strings.NewReader(tt.in), &out, &errOut
		code := exitOK
		if err := app.RunContext(context.Background(), []string{"sgde", "serve", "hash-key"}); err != nil {
			code = exitFailure
			if _, ok := err.(usageError); ok {
				code = exitUsage
			}
		}
		if code != tt.code || out.String() != tt.out {
			t.Errorf("hash-key %q: exit %d out %q, want %d %q (stderr %s)", tt.in, code, out.String(), tt.code, tt.out, errOut.String())
		}
	}
}

func TestServeUsage(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "tenants.yaml")
	os.WriteFile(bad, []byte("tenants:\n  - {name: a, keys: [{sha256: sk-in-clear}], plans: ['*']}\n"), 0o644)
	for _, tt := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"serve"}, exitUsage, "--plans"},
		{[]string{"serve", "--plans", dir, "--tenants", bad, "--cache-mode", "off"}, exitFailure, "64 hex digits"},
		{[]string{"serve", "--plans", dir, "--tenants", bad, "--log-level", "loud"}, exitUsage, "--log-level"},
	} {
		code, _, errOut := runCLI(t, tt.args...)
		if code != tt.code || !strings.Contains(errOut, tt.msg) {
			t.Errorf("%v: exit %d, want %d mentioning %q:\n%s", tt.args, code, tt.code, tt.msg, errOut)
		}
	}
}

// TestServeCommand starts `sgde serve` with an operations listener, checks both answer (and that
// /metrics is only on the operations one), reloads it with SIGHUP, and stops it by cancelling
// its context (what SIGTERM does).
func TestServeCommand(t *testing.T) {
	dir := t.TempDir()
	key := "sk-cmd-test-0123456789abcdef"
	tenants := filepath.Join(dir, "tenants.yaml")
	os.WriteFile(tenants, []byte(fmt.Sprintf("tenants:\n  - {name: t1, keys: [{sha256: %s}], plans: ['*']}\n", serve.HashKey(key))), 0o644)
	plansDir := filepath.Join(dir, "plans")
	os.Mkdir(plansDir, 0o755)
	b, err := os.ReadFile(filepath.Join("../../testdata/plans", "gsm-hard-zero-shot.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	freeAddr := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	addr, opsAddr := freeAddr(), freeAddr()
	// A stand-in OTLP/HTTP collector.
	var otlpMu sync.Mutex
	var otlpBodies []string
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		otlpMu.Lock()
		otlpBodies = append(otlpBodies, r.Method+" "+r.URL.Path+" "+string(b))
		otlpMu.Unlock()
	}))
	defer collector.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"sgde", "serve", "--plans", plansDir, "--tenants", tenants, "--addr", addr, "--ops-addr", opsAddr, "--cache-mode", "off", "--otlp-endpoint", collector.URL,
			"--student-url", "http://127.0.0.1:1/v1", "--student-model", "m"}, &out, &errOut)
	}()
	get := func(path string) (int, string) {
		if !strings.HasPrefix(path, "http") {
			path = "http://" + addr + path
		}
		req, _ := http.NewRequest("GET", path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				cancel()
				t.Fatalf("timed out waiting for %s; stderr:\n%s", what, errOut.String())
			}
		}
	}
	waitFor("readyz", func() bool { code, _ := get("/readyz"); return code == 200 })
	if code, body := get("/v1/models"); code != 200 || !strings.Contains(body, `"data":[]`) {
		t.Fatalf("models before reload: %d %s", code, body)
	}
	if err := os.WriteFile(filepath.Join(plansDir, "zs.yaml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor("the reloaded plan", func() bool { _, body := get("/v1/models"); return strings.Contains(body, "gsm-hard-zero-shot") })
	if code, body := get("/metrics"); code != 404 || !strings.Contains(body, `"code":"unknown_url"`) {
		t.Errorf("/metrics on the API address with --ops-addr: %d %s", code, body)
	}
	if code, _ := get("http://" + opsAddr + "/readyz"); code != 200 {
		t.Errorf("/readyz on the operations address: %d", code)
	}
	if code, body := get("http://" + opsAddr + "/metrics"); code != 200 || !strings.Contains(body, `sgde_serve_reloads_total{result="ok"} 1`) {
		t.Errorf("/metrics on the operations address: %d %.300s", code, body)
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("serve exited %d:\n%s", code, errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
	otlpMu.Lock()
	exported := strings.Join(otlpBodies, "\n")
	otlpMu.Unlock()
	if !strings.Contains(exported, "POST /v1/traces ") || !strings.Contains(exported, "GET /v1/models") || !strings.Contains(exported, "sgde-serve") {
		t.Errorf("the collector did not receive the request spans: %q", exported)
	}
	for _, want := range []string{`"msg":"serving"`, `"msg":"serving operations"`, `"msg":"plans reloaded"`, `"msg":"request"`, `"tenant":"t1"`} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("logs lack %s:\n%s", want, errOut.String())
		}
	}
	if strings.Contains(errOut.String(), "/metrics is public") {
		t.Errorf("warned of public metrics with --ops-addr:\n%s", errOut.String())
	}
	for _, a := range []string{addr, opsAddr} {
		if conn, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			conn.Close()
			t.Errorf("%s still accepts connections after serve returned", a)
		}
	}
}

// TestEngineOverride serves a plan whose defaults.engine is wasmtime: a build without wasmtime
// refuses to start and says why, unless --engine wazero overrides the plan's engine. (Not named
// after serve: `make test` runs tests matching its RACE_TESTS, "Serve" among them, only under
// -race, as concurrency tests, and this one's cost is building and compiling a code node, ten
// times slower under -race; "Engine" puts it in the wasmtime step too.)
func TestEngineOverride(t *testing.T) {
	dir := t.TempDir()
	key := "sk-engine-test-0123456789abcdef"
	tenants := filepath.Join(dir, "tenants.yaml")
	os.WriteFile(tenants, []byte(fmt.Sprintf("tenants:\n  - {name: t1, keys: [{sha256: %s}], plans: ['*']}\n", serve.HashKey(key))), 0o644)
	plansDir := filepath.Join(dir, "plans")
	os.Mkdir(plansDir, 0o755)
	b, err := os.ReadFile("../../internal/serve/testdata/engines/wasmtime.yaml")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(plansDir, "wasmtime.yaml"), b, 0o644)
	if sandbox.Available(plans.EngineWasmtime) != nil {
		code, _, errOut := runCLI(t, "serve", "--plans", plansDir, "--tenants", tenants, "--addr", "127.0.0.1:0", "--cache-mode", "off")
		if code != exitFailure || !strings.Contains(errOut, "wasmtime.yaml") || !strings.Contains(errOut, "shout-on-wasmtime") ||
			!strings.Contains(errOut, "built without wasmtime") || !strings.Contains(errOut, "--engine wazero") {
			t.Errorf("serve of a wasmtime plan without wasmtime: exit %d:\n%s", code, errOut)
		}
		code, _, errOut = runCLI(t, "serve", "--plans", plansDir, "--tenants", tenants, "--engine", "wasmtime", "--cache-mode", "off")
		if code != exitFailure || !strings.Contains(errOut, "built without wasmtime") {
			t.Errorf("serve --engine wasmtime without wasmtime: exit %d:\n%s", code, errOut)
		}
	}
	if testing.Short() {
		t.Skip("-short: not building the code node")
	}
	// --engine overrides the plan's engine (and, with wasmtime built in, the plan runs on it).
	for _, engine := range []string{"wazero", ""} {
		if engine == "" && sandbox.Available(plans.EngineWasmtime) != nil {
			continue
		}
		want := engine
		if want == "" {
			want = "wasmtime"
		}
		t.Run(want, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close()
			// The first run builds and compiles the code node; under -race on a cold cache
			// that alone can pass the default run timeout, which is not what this tests.
			args := []string{"sgde", "serve", "--plans", plansDir, "--tenants", tenants, "--addr", addr, "--cache-mode", "off", "--run-timeout", "10m"}
			if engine != "" {
				args = append(args, "--engine", engine)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var out, errOut bytes.Buffer
			done := make(chan int, 1)
			go func() { done <- run(ctx, args, &out, &errOut) }()
			var status int
			var body []byte
			for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
				req, _ := http.NewRequest("POST", "http://"+addr+"/v1/plans/shout-on-wasmtime/run", strings.NewReader(`{"inputs":{"text":"hi"},"trace":true}`))
				req.Header.Set("Authorization", "Bearer "+key)
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					body, _ = io.ReadAll(resp.Body)
					resp.Body.Close()
					status = resp.StatusCode
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("serve did not answer: %v", err)
				}
			}
			cancel()
			if code := <-done; code != exitOK {
				t.Errorf("serve exited %d:\n%s", code, errOut.String())
			}
			if status != 200 || !strings.Contains(string(body), `"output":"HI!"`) || !strings.Contains(string(body), `"engine":"`+want+`"`) {
				t.Errorf("run: %d %s, want HI! on %s", status, body, want)
			}
		})
	}
}
