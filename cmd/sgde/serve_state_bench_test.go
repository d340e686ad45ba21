package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sgde-project/sgde/internal/redistest"
	"github.com/sgde-project/sgde/internal/serve"
)

// BenchmarkServeKill9Lease: two `sgde serve --state` processes share a tenant limited to one
// run in flight; a run on replica A hangs on its student; A is killed with SIGKILL; the benchmark
// measures how long until replica B can start a run (A's lease expired), polling B every ~170 ms
// at most. Everything listens on 127.0.0.1; the default --lease-ttl (10s) applies, and a live
// replica renews its leases every second, so the expected figure is 9-10 s plus the polling step.
//
//	go test -run '^$' -bench Kill9Lease -benchtime 1x ./cmd/sgde
func BenchmarkServeKill9Lease(b *testing.B) {
	rd := redistest.Start(b)
	dir := b.TempDir()
	bin := filepath.Join(dir, "sgde")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	key := "sk-bench-0123456789abcdef"
	tenants := filepath.Join(dir, "tenants.yaml")
	os.WriteFile(tenants, fmt.Appendf(nil, "tenants:\n  - {name: t1, keys: [{sha256: %s}], plans: ['*'], concurrency: 1}\n", serve.HashKey(key)), 0o644)
	plansDir := filepath.Join(dir, "plans")
	os.Mkdir(plansDir, 0o755)
	plan, err := os.ReadFile("../../internal/serve/testdata/llm/ask.yaml")
	if err != nil {
		b.Fatal(err)
	}
	os.WriteFile(filepath.Join(plansDir, "ask.yaml"), plan, 0o644)
	// The student holds every call until its client goes away.
	calls := make(chan struct{}, 100)
	student := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // then net/http notices the client going away
		calls <- struct{}{}
		<-r.Context().Done()
	}))
	defer student.Close()
	defer student.CloseClientConnections()

	start := func() (*exec.Cmd, string) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		cmd := exec.Command(bin, "serve", "--plans", plansDir, "--tenants", tenants, "--addr", addr, "--state", rd.URL(0),
			"--student-url", student.URL+"/v1", "--student-model", "m", "--cache-mode", "off", "--student-retries", "0", "--log-level", "error")
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return cmd, addr
				}
			}
			if time.Now().After(deadline) {
				b.Fatal("replica not ready")
			}
		}
	}
	run := func(addr string, timeout time.Duration) int {
		req, _ := http.NewRequest("POST", "http://"+addr+"/v1/plans/ask/run", strings.NewReader(`{"inputs":{"question":"q"}}`))
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := (&http.Client{Timeout: timeout}).Do(req)
		if err != nil {
			return 0 // timed out: admitted, waiting on the student
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for range b.N {
		a, addrA := start()
		_, addrB := start()
		go run(addrA, time.Minute)
		<-calls // A's run holds the tenant's only slot
		if got := run(addrB, 5*time.Second); got != http.StatusTooManyRequests {
			b.Fatalf("replica B while A runs: %d, want 429", got)
		}
		a.Process.Kill()
		killed := time.Now()
		// When Redis will drop A's lease: its expiry (ms of Redis's clock) minus Redis's now.
		rc := redis.NewClient(&redis.Options{Addr: rd.Addr()})
		leases, err := rc.ZRangeWithScores(b.Context(), serve.DefaultRedisPrefix+":{t1}:leases", 0, -1).Result()
		now, terr := rc.Time(b.Context()).Result()
		rc.Close()
		if err != nil || terr != nil || len(leases) != 1 {
			b.Fatalf("A's lease in Redis: %v %v %v", leases, err, terr)
		}
		b.ReportMetric((leases[0].Score-float64(now.UnixMilli()))/1000, "expires-after-kill-s")
		for {
			if time.Since(killed) > 30*time.Second {
				b.Fatal("A's lease not freed 30s after kill -9")
			}
			if got := run(addrB, 150*time.Millisecond); got != http.StatusTooManyRequests && got != 0 {
				b.Fatalf("replica B: %d", got)
			}
			select {
			case <-calls:
				b.ReportMetric(time.Since(killed).Seconds(), "freed-after-s")
				b.ReportMetric(serve.DefaultLeaseTTL.Seconds(), "lease-ttl-s")
			default:
				time.Sleep(20 * time.Millisecond)
				continue
			}
			break
		}
	}
}
