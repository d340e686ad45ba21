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

// TestServeCommand starts `sgde serve`, checks it answers, reloads it with SIGHUP, and stops it
// by cancelling its context (what SIGTERM does).
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
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
		done <- run(ctx, []string{"sgde", "serve", "--plans", plansDir, "--tenants", tenants, "--addr", addr, "--cache-mode", "off", "--otlp-endpoint", collector.URL}, &out, &errOut)
	}()
	get := func(path string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
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
	for _, want := range []string{`"msg":"serving"`, `"msg":"plans reloaded"`, `"msg":"request"`, `"tenant":"t1"`} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("logs lack %s:\n%s", want, errOut.String())
		}
	}
}
