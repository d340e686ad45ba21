package serve

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sgde-project/sgde/internal/redistest"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/llm"
)

const daveKey = "sk-dave-test-0123456789abcdef"

// daveTenants is a one-tenant file with the given quotas (YAML flow fields).
func daveTenants(t testing.TB, quotas string) *Tenants {
	t.Helper()
	ts, err := ParseTenants(fmt.Appendf(nil, "tenants:\n  - {name: dave, keys: [{sha256: %s}], plans: ['*'], %s}\n", HashKey(daveKey), quotas))
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// heldStudent answers every call with "7" once release is closed, and counts the calls in
// flight.
type heldStudent struct {
	release chan struct{}
	calls   atomic.Int64
	now     atomic.Int64
	peak    atomic.Int64
}

func (h *heldStudent) Complete(ctx context.Context, _ llm.Request) (llm.Response, error) {
	h.calls.Add(1)
	n := h.now.Add(1)
	defer h.now.Add(-1)
	for {
		p := h.peak.Load()
		if n <= p || h.peak.CompareAndSwap(p, n) {
			break
		}
	}
	select {
	case <-h.release:
		return llm.Response{Text: "7", FinishReason: "stop"}, nil
	case <-ctx.Done():
		return llm.Response{}, ctx.Err()
	}
}

// replicas starts n servers of the llm test plans sharing the Redis at url, each with its own
// client, as n processes would. The runners share student.
func replicas(t *testing.T, n int, url string, ts *Tenants, student llm.Completer, opts RedisOptions, failOpen bool) ([]*Server, []*Redis) {
	t.Helper()
	factory := func(context.Context, string, string) (*runtime.Runner, func(), error) {
		r, err := runtime.New(runtime.Options{Student: student, Model: "held"})
		return r, nil, err
	}
	var ss []*Server
	var rs []*Redis
	for range n {
		opts.URL = url
		rd, err := OpenRedis(t.Context(), opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rd.Close() })
		ss = append(ss, newTestServer(t, Options{PlansDir: "testdata/llm", Tenants: ts, NewRunner: factory, Quotas: rd, QuotasFailOpen: failOpen}))
		rs = append(rs, rd)
	}
	return ss, rs
}

const askBody = `{"inputs":{"question":"q"}}`

func TestRedisRateAcrossReplicas(t *testing.T) {
	rd := redistest.Start(t)
	for _, tt := range []struct {
		name        string
		rate, burst int
		offer       time.Duration
	}{
		{"burst", 1, 6, 0},
		{"sustained", 20, 2, time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := daveTenants(t, fmt.Sprintf("rate: {requests_per_second: %d, burst: %d}", tt.rate, tt.burst))
			ss, _ := replicas(t, 3, rd.URL(0), ts, nil, RedisOptions{Prefix: t.Name()}, false)
			var accepted, refused atomic.Int64
			start := time.Now()
			var wg sync.WaitGroup
			for i, s := range ss {
				wg.Go(func() {
					for j := 0; j < 5 || time.Since(start) < tt.offer; j++ {
						r := do(t, s.Handler(), "GET", "/v1/models", daveKey, "")
						switch r.status {
						case 200:
							accepted.Add(1)
						case 429:
							refused.Add(1)
							if ra, _ := strconv.Atoi(r.header.Get("Retry-After")); ra < 1 {
								t.Errorf("replica %d: Retry-After %q", i, r.header.Get("Retry-After"))
							}
						default:
							t.Errorf("replica %d: %d %s", i, r.status, r.body)
						}
						time.Sleep(5 * time.Millisecond)
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(start).Seconds()
			// Every replica alone would admit burst + rate×elapsed: together they must admit that
			// once, not three times.
			most := float64(tt.burst) + float64(tt.rate)*elapsed + 1
			least := float64(tt.burst) + math.Floor(float64(tt.rate)*elapsed/2)
			if a := float64(accepted.Load()); a > most || a < least {
				t.Errorf("accepted %v of %d in %.2fs across 3 replicas, want %.0f..%.0f", a, accepted.Load()+refused.Load(), elapsed, least, most)
			}
			if refused.Load() == 0 {
				t.Error("nothing refused")
			}
		})
	}
}

func TestQuotaWindow(t *testing.T) {
	ts := daveTenants(t, "quota: {requests: 7, window: 1h}")
	t.Run("local", func(t *testing.T) {
		s := newTestServer(t, Options{PlansDir: "testdata/llm", Tenants: ts, NewRunner: noRunner(t)})
		testQuotaWindow(t, []*Server{s})
	})
	t.Run("redis", func(t *testing.T) {
		rd := redistest.Start(t)
		ss, _ := replicas(t, 3, rd.URL(0), ts, nil, RedisOptions{}, false)
		testQuotaWindow(t, ss)
	})
}

// testQuotaWindow sends 12 requests round-robin over ss: the quota of 7 per hour admits 7.
func testQuotaWindow(t *testing.T, ss []*Server) {
	got := 0
	for i := range 12 {
		r := do(t, ss[i%len(ss)].Handler(), "GET", "/v1/models", daveKey, "")
		switch r.status {
		case 200:
			got++
		case 429:
			if c := r.apiErr(t)["code"]; c != "insufficient_quota" {
				t.Errorf("request %d: code %v", i, c)
			}
			if ra, _ := strconv.Atoi(r.header.Get("Retry-After")); ra < 1 || ra > 3600 {
				t.Errorf("Retry-After %q, want the rest of the hour", r.header.Get("Retry-After"))
			}
		default:
			t.Fatalf("request %d: %d %s", i, r.status, r.body)
		}
	}
	if got != 7 {
		t.Errorf("admitted %d requests, want the quota of 7 across the replicas", got)
	}
}

func TestRedisConcurrencyAcrossReplicas(t *testing.T) {
	rd := redistest.Start(t)
	ts := daveTenants(t, "concurrency: 2")
	student := &heldStudent{release: make(chan struct{})}
	ss, _ := replicas(t, 3, rd.URL(0), ts, student, RedisOptions{}, false)
	// Two runs in flight, on replicas 0 and 1.
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			if r := do(t, ss[i].Handler(), "POST", "/v1/plans/ask/run", daveKey, askBody); r.status != 200 {
				t.Errorf("held run on replica %d: %d %s", i, r.status, r.body)
			}
		})
	}
	for student.now.Load() < 2 {
		time.Sleep(5 * time.Millisecond)
	}
	r := do(t, ss[2].Handler(), "POST", "/v1/plans/ask/run", daveKey, askBody)
	if r.status != 429 || r.apiErr(t)["code"] != "concurrency_limit_exceeded" {
		t.Fatalf("third run on replica 2 while 2 are in flight elsewhere: %d %s", r.status, r.body)
	}
	close(student.release)
	wg.Wait()
	if r := do(t, ss[2].Handler(), "POST", "/v1/plans/ask/run", daveKey, askBody); r.status != 200 {
		t.Fatalf("after the others finished: %d %s", r.status, r.body)
	}

	// Hammer: 12 clients over the 3 replicas; the student never sees more than 2 calls at once.
	hs := &heldStudent{release: make(chan struct{})}
	close(hs.release)
	ss, _ = replicas(t, 3, rd.URL(0), ts, hs, RedisOptions{Prefix: "hammer"}, false)
	var ok atomic.Int64
	for i := range 12 {
		wg.Go(func() {
			for range 15 {
				r := do(t, ss[i%3].Handler(), "POST", "/v1/plans/ask/run", daveKey, askBody)
				if r.status == 200 {
					ok.Add(1)
				} else if r.status != 429 {
					t.Errorf("%d %s", r.status, r.body)
				}
			}
		})
	}
	wg.Wait()
	if p := hs.peak.Load(); p > 2 || p < 1 || ok.Load() == 0 {
		t.Errorf("peak runs in flight %d (want 1..2), %d runs served", p, ok.Load())
	}
}

func TestRedisLeasesOfADeadReplicaExpire(t *testing.T) {
	rd := redistest.Start(t)
	ts := daveTenants(t, "concurrency: 1")
	dave := ts.list[0]
	const ttl = 600 * time.Millisecond
	open := func() *Redis {
		r, err := OpenRedis(t.Context(), RedisOptions{URL: rd.URL(0), LeaseTTL: ttl})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	alive, dead, other := open(), open(), open()

	// A live holder keeps its lease past the TTL: it renews it.
	release, ok, err := alive.Acquire(t.Context(), dave)
	if !ok || err != nil {
		t.Fatal(ok, err)
	}
	time.Sleep(3 * ttl)
	if _, ok, err := other.Acquire(t.Context(), dave); ok || err != nil {
		t.Fatalf("a renewed lease was taken: %v %v", ok, err)
	}
	release()
	if rel, ok, err := other.Acquire(t.Context(), dave); !ok || err != nil {
		t.Fatalf("a released lease is still held: %v %v", ok, err)
	} else {
		rel()
	}

	// A replica that dies holding a lease (no release, no renewal) frees it within the TTL.
	if _, ok, err := dead.Acquire(t.Context(), dave); !ok || err != nil {
		t.Fatal(ok, err)
	}
	dead.stop() // the renewer stops, as at kill -9
	<-dead.done
	died := time.Now()
	for {
		_, ok, err := other.Acquire(t.Context(), dave)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Since(died) > ttl+time.Second/2 {
			t.Fatalf("the dead replica's lease is still held %s after it died (TTL %s)", time.Since(died), ttl)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if d := time.Since(died); d > ttl+200*time.Millisecond {
		t.Errorf("freed after %s, TTL %s", d, ttl)
	}
	dead.leases = map[lease]struct{}{} // nothing to give back at cleanup
}

func TestRedisUnavailable(t *testing.T) {
	for _, tt := range []struct {
		name       string
		failOpen   bool
		wantStatus int
		wantReady  int
	}{
		{"fail closed", false, http.StatusServiceUnavailable, http.StatusServiceUnavailable},
		{"fail open", true, http.StatusOK, http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rd := redistest.Start(t)
			ts := daveTenants(t, "rate: {requests_per_second: 1, burst: 3}, concurrency: 1")
			hs := &heldStudent{release: make(chan struct{})}
			close(hs.release)
			ss, rs := replicas(t, 1, rd.URL(0), ts, hs, RedisOptions{}, tt.failOpen)
			s, h := ss[0], ss[0].Handler()
			if r := do(t, h, "GET", "/readyz", "", ""); r.status != 200 || r.json(t)["state"] != "ok" {
				t.Fatalf("readyz with Redis up: %d %s", r.status, r.body)
			}
			if r := do(t, h, "POST", "/v1/plans/ask/run", daveKey, askBody); r.status != 200 {
				t.Fatalf("with Redis up: %d %s", r.status, r.body)
			}
			if up := metricValue(t, s, "sgde_serve_state_up"); up != 1 {
				t.Errorf("sgde_serve_state_up = %v with Redis up", up)
			}
			rd.Stop()
			start := time.Now()
			r := do(t, h, "POST", "/v1/plans/ask/run", daveKey, askBody)
			if r.status != tt.wantStatus {
				t.Fatalf("Redis down: %d %s", r.status, r.body)
			}
			if d := time.Since(start); d > 2*DefaultRedisTimeout+time.Second {
				t.Errorf("a request took %s with Redis down", d)
			}
			if tt.failOpen {
				// The local limits apply: burst 3, one used by this request.
				codes := map[int]int{}
				for range 4 {
					codes[do(t, h, "GET", "/v1/models", daveKey, "").status]++
				}
				if codes[200] != 2 || codes[429] != 2 {
					t.Errorf("local limits while failing open: %v, want 2 admitted and 2 refused", codes)
				}
			} else {
				if r.header.Get("Retry-After") == "" || r.apiErr(t)["code"] != "quota_state_unavailable" {
					t.Errorf("fail closed: %v %s", r.header, r.body)
				}
				// Known down: the next refusal does not wait for a timeout.
				start := time.Now()
				if r := do(t, h, "GET", "/v1/models", daveKey, ""); r.status != 503 {
					t.Errorf("second request: %d", r.status)
				}
				if d := time.Since(start); d > 50*time.Millisecond {
					t.Errorf("a request took %s with Redis known down", d)
				}
			}
			if r := do(t, h, "GET", "/readyz", "", ""); r.status != tt.wantReady || r.json(t)["state"] == "ok" {
				t.Errorf("readyz with Redis down: %d %s", r.status, r.body)
			}
			if got := metricValue(t, s, "sgde_serve_state_errors_total"); got < 1 {
				t.Errorf("state errors counted: %v", got)
			}
			if up := metricValue(t, s, "sgde_serve_state_up"); up != 0 {
				t.Errorf("sgde_serve_state_up = %v with Redis down", up)
			}

			// Back without a restart of the replica.
			rd.Restart()
			deadline := time.Now().Add(5 * time.Second)
			for rs[0].Check(t.Context()) != nil {
				if time.Now().After(deadline) {
					t.Fatal("not reconnected 5s after Redis came back")
				}
				time.Sleep(50 * time.Millisecond)
			}
			if r := do(t, h, "GET", "/readyz", "", ""); r.status != 200 || r.json(t)["state"] != "ok" {
				t.Errorf("readyz after Redis came back: %d %s", r.status, r.body)
			}
			if r := do(t, h, "POST", "/v1/plans/ask/run", daveKey, askBody); r.status != 200 {
				t.Errorf("after Redis came back: %d %s", r.status, r.body)
			}
		})
	}
}

func TestOpenRedisBadURL(t *testing.T) {
	for _, u := range []string{"", "http://127.0.0.1:1/0", "redis://127.0.0.1:1/notanumber"} {
		if _, err := OpenRedis(t.Context(), RedisOptions{URL: u}); err == nil {
			t.Errorf("%q accepted", u)
		}
	}
	// An unreachable but well-formed URL is not an error: the replica starts not ready.
	r, err := OpenRedis(t.Context(), RedisOptions{URL: "redis://127.0.0.1:1/0"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Check(t.Context()); !errors.Is(err, ErrStateUnavailable) {
		t.Errorf("Check = %v", err)
	}
}

// metricValue sums the samples of the metric family name in s's registry.
func metricValue(t testing.TB, s *Server, name string) float64 {
	t.Helper()
	fams, err := s.m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}
