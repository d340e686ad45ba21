package serve

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sgde-project/sgde/internal/redistest"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/llm"
)

// The scale-out benchmarks: replicas in this process, each behind its own loopback TCP
// listener and its own Redis client, sharing one redis-server started by the benchmark. Loads
// target 127.0.0.1 only and are bounded in count and time.
//
//	go test -run '^$' -bench 'ScaleOut' -benchtime 1x -cpu 2 ./internal/serve

// loopbackReplicas serves each server on its own loopback listener and returns the base URLs.
func loopbackReplicas(b *testing.B, ss []*Server) []string {
	var urls []string
	for _, s := range ss {
		hs := httptest.NewServer(s.Handler())
		b.Cleanup(hs.Close)
		urls = append(urls, hs.URL)
	}
	return urls
}

type loadResult struct {
	sent, ok, refused, failed int64
	firstFail                 string
	lat                       []time.Duration // of the 200s
	wall                      time.Duration
}

func (r *loadResult) quantile(p float64) float64 {
	if len(r.lat) == 0 {
		return 0
	}
	slices.Sort(r.lat)
	return float64(r.lat[int(p*float64(len(r.lat)-1))].Microseconds()) / 1000
}

var benchClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: time.Minute}

// send makes one request and returns its status and latency.
func send(method, url, key, body string) (int, time.Duration, error) {
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	start := time.Now()
	resp, err := benchClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, time.Since(start), nil
}

func (r *loadResult) record(mu *sync.Mutex, status int, d time.Duration, err error) {
	mu.Lock()
	defer mu.Unlock()
	r.sent++
	switch {
	case err != nil || (status != 200 && status != 429):
		r.failed++
		if r.firstFail == "" {
			r.firstFail = fmt.Sprint(status, " ", err)
		}
	case status == 429:
		r.refused++
	default:
		r.ok++
		r.lat = append(r.lat, d)
	}
}

// openLoad offers rate requests/s for d, round-robin over urls, from at most 256 requests in
// flight (a request that would exceed it is not sent, and the report says how many were).
func openLoad(urls []string, rate int, d time.Duration, method, path, key, body string) *loadResult {
	var res loadResult
	var mu sync.Mutex
	sem := make(chan struct{}, 256)
	var wg sync.WaitGroup
	n := int(float64(rate) * d.Seconds())
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for i := range n {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		select {
		case sem <- struct{}{}:
		default:
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			status, lat, err := send(method, urls[i%len(urls)]+path, key, body)
			res.record(&mu, status, lat, err)
		})
	}
	wg.Wait()
	res.wall = time.Since(start)
	return &res
}

// closedLoad runs clients that each send n requests back to back, round-robin over urls.
func closedLoad(urls []string, clients, n int, method, path, key, body string) *loadResult {
	var res loadResult
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for c := range clients {
		wg.Go(func() {
			for i := range n {
				status, lat, err := send(method, urls[(c+i)%len(urls)]+path, key, body)
				res.record(&mu, status, lat, err)
			}
		})
	}
	wg.Wait()
	res.wall = time.Since(start)
	return &res
}

// BenchmarkScaleOutRate: one tenant limited to 50 requests/s (burst 10), 500 requests/s offered
// for 10 s over 3 replicas: accepted/s with the quota in Redis and, for comparison, in each
// replica's memory.
func BenchmarkScaleOutRate(b *testing.B) {
	rd := redistest.Start(b)
	ts := daveTenants(b, "rate: {requests_per_second: 50, burst: 10}")
	for _, shared := range []bool{true, false} {
		name := "redis"
		if !shared {
			name = "local"
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				ss := benchReplicas(b, 3, rd.URL(0), ts, nil, shared, name+fmt.Sprint(time.Now().UnixNano()))
				res := openLoad(loopbackReplicas(b, ss), 500, 10*time.Second, "GET", "/v1/models", daveKey, "")
				if res.failed > 0 {
					b.Fatalf("%d requests failed; first: %s", res.failed, res.firstFail)
				}
				b.ReportMetric(float64(res.ok)/res.wall.Seconds(), "accepted/s")
				b.ReportMetric(float64(res.sent)/res.wall.Seconds(), "offered/s")
			}
		})
	}
}

// benchReplicas is replicas for benchmarks: shared false gives in-process quotas.
func benchReplicas(b *testing.B, n int, url string, ts *Tenants, student llm.Completer, shared bool, prefix string) []*Server {
	factory := func(context.Context, string, string) (*runtime.Runner, func(), error) {
		r, err := runtime.New(runtime.Options{Student: student, Model: "held", Concurrency: 64})
		return r, nil, err
	}
	var ss []*Server
	for range n {
		opts := Options{PlansDir: "testdata/llm", Tenants: ts, NewRunner: factory}
		if shared {
			rd, err := OpenRedis(b.Context(), RedisOptions{URL: url, Prefix: prefix})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { rd.Close() })
			opts.Quotas = rd
		}
		ss = append(ss, newTestServer(b, opts))
	}
	return ss
}

// sleepyStudent answers after a fixed delay and tracks the calls in flight.
type sleepyStudent struct {
	delay     time.Duration
	now, peak atomic.Int64
}

func (s *sleepyStudent) Complete(ctx context.Context, _ llm.Request) (llm.Response, error) {
	n := s.now.Add(1)
	defer s.now.Add(-1)
	for p := s.peak.Load(); n > p && !s.peak.CompareAndSwap(p, n); p = s.peak.Load() {
	}
	select {
	case <-time.After(s.delay):
		return llm.Response{Text: "7"}, nil
	case <-ctx.Done():
		return llm.Response{}, ctx.Err()
	}
}

// BenchmarkScaleOutConcurrency: a tenant limited to 4 runs in flight, 32 clients over 3
// replicas for 2,400 runs of a plan whose student takes 20 ms. Reports the most runs in flight
// the student saw, and the most leases Redis held, sampled every 2 ms.
func BenchmarkScaleOutConcurrency(b *testing.B) {
	rd := redistest.Start(b)
	ts := daveTenants(b, "concurrency: 4")
	for range b.N {
		student := &sleepyStudent{delay: 20 * time.Millisecond}
		prefix := fmt.Sprint("conc", time.Now().UnixNano())
		ss := benchReplicas(b, 3, rd.URL(0), ts, student, true, prefix)
		probe, err := OpenRedis(b.Context(), RedisOptions{URL: rd.URL(0), Prefix: prefix})
		if err != nil {
			b.Fatal(err)
		}
		defer probe.Close()
		var maxLeases atomic.Int64
		var samples atomic.Int64
		ctx, stop := context.WithCancel(b.Context())
		var sampler sync.WaitGroup
		sampler.Go(func() {
			t := time.NewTicker(2 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				n := probe.c.ZCard(ctx, probe.key("dave", "leases")).Val()
				samples.Add(1)
				if n > maxLeases.Load() {
					maxLeases.Store(n)
				}
			}
		})
		res := closedLoad(loopbackReplicas(b, ss), 32, 75, "POST", "/v1/plans/ask/run", daveKey, askBody)
		stop()
		sampler.Wait()
		if res.failed > 0 {
			b.Fatalf("%d requests failed; first: %s", res.failed, res.firstFail)
		}
		b.ReportMetric(float64(student.peak.Load()), "max-in-flight")
		b.ReportMetric(float64(maxLeases.Load()), "max-leases")
		b.ReportMetric(float64(samples.Load()), "samples")
		b.ReportMetric(float64(res.ok)/res.wall.Seconds(), "served/s")
		b.ReportMetric(float64(res.refused)/res.wall.Seconds(), "refused/s")
	}
}

// BenchmarkScaleOutOverhead: what Redis adds per request, and 3 replicas against 1 on this
// machine. 16 clients, 4,000 requests of the given endpoint; the tenant has a rate and a
// concurrency limit far above the load, so every request pays the admission script and every
// run the lease's acquire and release, without being refused.
func BenchmarkScaleOutOverhead(b *testing.B) {
	rd := redistest.Start(b)
	ts := daveTenants(b, "rate: {requests_per_second: 1000000, burst: 1000000}, concurrency: 1000")
	factory, _ := realFactory(b)
	for _, bc := range []struct {
		name     string
		replicas int
		shared   bool
		endpoint string
	}{
		{"models/1-local", 1, false, "models"},
		{"models/1-redis", 1, true, "models"},
		{"models/3-redis", 3, true, "models"},
		{"run-add/1-local", 1, false, "run-add"},
		{"run-add/1-redis", 1, true, "run-add"},
		{"run-add/3-redis", 3, true, "run-add"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var ss []*Server
			for range bc.replicas {
				opts := Options{Tenants: ts, NewRunner: factory}
				if bc.shared {
					r, err := OpenRedis(b.Context(), RedisOptions{URL: rd.URL(0), Prefix: bc.name})
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { r.Close() })
					opts.Quotas = r
				}
				ss = append(ss, newTestServer(b, opts))
			}
			urls := loopbackReplicas(b, ss)
			method, path, body := "GET", "/v1/models", ""
			if bc.endpoint == "run-add" {
				method, path, body = "POST", "/v1/plans/add/run", `{"inputs":{"a":2,"b":3}}`
				for _, u := range urls { // warm every replica's runner
					if status, _, err := send(method, u+path, daveKey, body); err != nil || status != 200 {
						b.Fatalf("warm-up: %d %v", status, err)
					}
				}
			}
			for range b.N {
				res := closedLoad(urls, 16, 250, method, path, daveKey, body)
				if res.failed > 0 || res.refused > 0 {
					b.Fatalf("%d failed (first: %s), %d refused", res.failed, res.firstFail, res.refused)
				}
				b.ReportMetric(float64(res.ok)/res.wall.Seconds(), "req/s")
				b.ReportMetric(res.quantile(0.50), "p50-ms")
				b.ReportMetric(res.quantile(0.99), "p99-ms")
			}
		})
	}
}

// BenchmarkScaleOutRedisOps: the Redis round trips one request adds, one at a time (no other
// load from this benchmark): Admit (the rate and quota script; every request of a limited
// tenant) and Acquire+release (the lease; every run of a tenant with a concurrency limit).
func BenchmarkScaleOutRedisOps(b *testing.B) {
	rd := redistest.Start(b)
	ts := daveTenants(b, "rate: {requests_per_second: 1000000, burst: 1000000}, concurrency: 1000")
	dave := ts.list[0]
	r, err := OpenRedis(b.Context(), RedisOptions{URL: rd.URL(0)})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	for _, op := range []string{"admit", "acquire+release"} {
		b.Run(op, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			for range b.N {
				start := time.Now()
				if op == "admit" {
					if d, err := r.Admit(b.Context(), dave); err != nil || !d.OK {
						b.Fatal(d, err)
					}
				} else {
					release, ok, err := r.Acquire(b.Context(), dave)
					if err != nil || !ok {
						b.Fatal(ok, err)
					}
					release()
				}
				lat = append(lat, time.Since(start))
			}
			res := loadResult{lat: lat}
			b.ReportMetric(res.quantile(0.50)*1000, "p50-µs")
			b.ReportMetric(res.quantile(0.99)*1000, "p99-µs")
		})
	}
}
