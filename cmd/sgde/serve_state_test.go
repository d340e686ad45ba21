package main

import (
	"context"
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

	"github.com/sgde-project/sgde/internal/redistest"
	"github.com/sgde-project/sgde/internal/serve"
)

// TestServeState starts three `sgde serve --state` replicas on one redis-server: a tenant's rate
// holds across them, and /readyz reports the shared state.
func TestServeState(t *testing.T) {
	rd := redistest.Start(t)
	dir := t.TempDir()
	key := "sk-cmd-test-0123456789abcdef"
	tenants := filepath.Join(dir, "tenants.yaml")
	os.WriteFile(tenants, fmt.Appendf(nil, "tenants:\n  - {name: t1, keys: [{sha256: %s}], plans: ['*'], rate: {requests_per_second: 1, burst: 4}}\n", serve.HashKey(key)), 0o644)
	plansDir := filepath.Join(dir, "plans")
	os.Mkdir(plansDir, 0o755)

	for _, tt := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--cache-store", "redis"}, "needs --state"},
		{[]string{"--cache-store", "memcached", "--state", rd.URL(0)}, "file or redis"},
		{[]string{"--state", "http://" + rd.Addr()}, "--state"},
	} {
		args := append([]string{"serve", "--plans", plansDir, "--tenants", tenants}, tt.args...)
		if code, _, errOut := runCLI(t, args...); code != exitUsage || !strings.Contains(errOut, tt.msg) {
			t.Errorf("%v: exit %d, want %d mentioning %q:\n%s", tt.args, code, exitUsage, tt.msg, errOut)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	var addrs []string
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	get := func(addr, path string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// One at a time: urfave/cli writes its global help flag while it parses a command line, so
	// two parses at once in one process race (three processes would share nothing).
	for range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		addrs = append(addrs, addr)
		wg.Go(func() {
			if code := run(ctx, []string{"sgde", "serve", "--plans", plansDir, "--tenants", tenants, "--addr", addr,
				"--state", rd.URL(0), "--cache-store", "redis", "--cache-mode", "use"}, io.Discard, io.Discard); code != exitOK {
				t.Errorf("replica %s exited %d", addr, code)
			}
		})
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			code, body := get(addr, "/readyz")
			if code == 200 && strings.Contains(body, `"state":"ok"`) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("replica %s not ready: %d %s", addr, code, body)
			}
		}
	}
	start := time.Now()
	accepted := 0
	for i := range 12 {
		if code, _ := get(addrs[i%3], "/v1/models"); code == 200 {
			accepted++
		}
	}
	// burst 4 plus 1/s: one replica alone would grant that, three not three times as much.
	if most := 4 + int(time.Since(start).Seconds()) + 1; accepted < 4 || accepted > most {
		t.Errorf("accepted %d of 12 across 3 replicas, want 4..%d", accepted, most)
	}
}
