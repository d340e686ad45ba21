package serve

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// TestTenantsHammer releases P goroutines of two tenants together, each running the same plan on
// its own text N times: every answer must be the caller's own, whatever ran beside it.
func TestTenantsHammer(t *testing.T) {
	factory, _ := realFactory(t)
	s := newTestServer(t, Options{NewRunner: factory})
	h := s.Handler()
	const P, N = 8, 4
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(P / 2))
	var start, done sync.WaitGroup
	start.Add(1)
	errs := make(chan string, P*N)
	for g := range P {
		done.Add(1)
		go func() {
			defer done.Done()
			key := aliceKey
			if g%2 == 1 {
				key = bobKey
			}
			start.Wait()
			for i := range N {
				text := fmt.Sprintf("tenant %d call %d", g%2, g*N+i)
				body, _ := json.Marshal(map[string]any{"model": "shout", "messages": []map[string]string{{"role": "user", "content": text}}})
				r := do(t, h, "POST", "/v1/chat/completions", key, string(body))
				want := strings.ToUpper(text) + "!"
				if r.status != 200 || !strings.Contains(string(r.body), `"content":"`+want+`"`) {
					errs <- fmt.Sprintf("goroutine %d call %d: %d %s", g, i, r.status, r.body)
				}
			}
		}()
	}
	start.Done()
	done.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
