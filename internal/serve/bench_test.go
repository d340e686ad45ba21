package serve

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkServeLoopback is the bounded loopback load test: 16 keep-alive clients call the
// served code-only plan "add" (one trivial code node) over TCP; it reports requests/s, p50 and
// p99 latency, and fails on any error. The "models" case is the same path without a plan run
// (authentication, routing, JSON, metrics): the server's own cost.
//
//	go test -run '^$' -bench ServeLoopback -benchtime 2000x -cpu 2 ./internal/serve
func BenchmarkServeLoopback(b *testing.B) {
	factory, _ := realFactory(b)
	s := newTestServer(b, Options{NewRunner: factory})
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: time.Minute}
	for _, bc := range []struct{ name, method, path, body string }{
		{"run-add", "POST", "/v1/plans/add/run", `{"inputs":{"a":2,"b":3}}`},
		{"models", "GET", "/v1/models", ""},
	} {
		b.Run(bc.name, func(b *testing.B) {
			call := func() (time.Duration, error) {
				req, _ := http.NewRequest(bc.method, hs.URL+bc.path, strings.NewReader(bc.body))
				req.Header.Set("Authorization", "Bearer "+aliceKey)
				start := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					return 0, err
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil && resp.StatusCode != 200 {
					err = &httpError{resp.StatusCode, string(body)}
				}
				return time.Since(start), err
			}
			if _, err := call(); err != nil { // warm: build and compile the code node
				b.Fatal(err)
			}
			var mu sync.Mutex
			var lat []time.Duration
			var firstErr error
			errs := 0
			b.SetParallelism(8)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				for pb.Next() {
					d, err := call()
					if err != nil {
						mu.Lock()
						errs++
						if firstErr == nil {
							firstErr = err
						}
						mu.Unlock()
						continue
					}
					mine = append(mine, d)
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
			wall := time.Since(start)
			b.StopTimer()
			if errs > 0 {
				b.Fatalf("%d of %d requests failed; first: %v", errs, b.N, firstErr)
			}
			slices.Sort(lat)
			q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
			b.ReportMetric(float64(b.N)/wall.Seconds(), "req/s")
			b.ReportMetric(q(0.50), "p50-ms")
			b.ReportMetric(q(0.99), "p99-ms")
		})
	}
}

type httpError struct {
	status int
	body   string
}

func (e *httpError) Error() string { return http.StatusText(e.status) + ": " + e.body }
