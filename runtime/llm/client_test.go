package llm_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/sgde-project/sgde/runtime/llm"
	"github.com/sgde-project/sgde/runtime/llm/llmtest"
)

func fastConfig(url string) llm.Config {
	return llm.NewConfig(url, "student").
		WithBackoff(time.Millisecond, 5*time.Millisecond).
		WithTimeout(500 * time.Millisecond).
		WithMaxRetryAfter(50 * time.Millisecond)
}

func ask(text string) llm.Request {
	return llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: text}}}
}

func TestCompleteFaults(t *testing.T) {
	tests := []struct {
		name      string
		script    []llmtest.Fault
		always    llmtest.Fault
		retries   int
		wantErr   error
		wantCalls int
	}{
		{name: "ok", wantCalls: 1},
		{name: "429 then ok", script: []llmtest.Fault{llmtest.TooManyRequests}, retries: 3, wantCalls: 2},
		{name: "500 twice then ok", script: []llmtest.Fault{llmtest.ServerError, llmtest.ServerError}, retries: 3, wantCalls: 3},
		{name: "slow then ok", script: []llmtest.Fault{llmtest.Slow}, retries: 3, wantCalls: 2},
		{name: "truncated then ok", script: []llmtest.Fault{llmtest.Truncated}, retries: 3, wantCalls: 2},
		{name: "garbage then ok", script: []llmtest.Fault{llmtest.Garbage}, retries: 3, wantCalls: 2},
		{name: "html then ok", script: []llmtest.Fault{llmtest.WrongContentType}, retries: 3, wantCalls: 2},
		{name: "no choices then ok", script: []llmtest.Fault{llmtest.NoChoices}, retries: 3, wantCalls: 2},
		{name: "400 not retried", script: []llmtest.Fault{llmtest.BadRequest}, retries: 3, wantErr: llm.ErrRejected, wantCalls: 1},
		{name: "500 forever", always: llmtest.ServerError, retries: 2, wantErr: llm.ErrUnavailable, wantCalls: 3},
		{name: "garbage forever", always: llmtest.Garbage, retries: 2, wantErr: llm.ErrBadResponse, wantCalls: 3},
		{name: "no retries", script: []llmtest.Fault{llmtest.TooManyRequests}, retries: 0, wantErr: llm.ErrUnavailable, wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := llmtest.NewServer()
			defer srv.Close()
			srv.SlowDelay = time.Second
			srv.Script(tt.script...)
			srv.Always(tt.always)
			c, err := llm.New(fastConfig(srv.BaseURL()).WithRetries(tt.retries))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := c.Complete(context.Background(), ask("hello"))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatalf("unexpected error: %v", err)
			} else {
				if resp.Text != "hello" {
					t.Errorf("text = %q, want hello", resp.Text)
				}
				if resp.Usage.TotalTokens == 0 {
					t.Error("usage not recorded")
				}
				if resp.Attempts != tt.wantCalls {
					t.Errorf("attempts = %d, want %d", resp.Attempts, tt.wantCalls)
				}
			}
			if got := srv.Calls(); got != tt.wantCalls {
				t.Errorf("server calls = %d, want %d", got, tt.wantCalls)
			}
		})
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	srv := llmtest.NewServer()
	defer srv.Close()
	srv.RetryAfter = "1"
	srv.Script(llmtest.TooManyRequests)
	cfg := fastConfig(srv.BaseURL()).WithMaxRetryAfter(300 * time.Millisecond)
	c, _ := llm.New(cfg)
	start := time.Now()
	if _, err := c.Complete(context.Background(), ask("x")); err != nil {
		t.Fatal(err)
	}
	// Retry-After 1s is capped at 300ms; the backoff alone would be ~1ms.
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("retried after %v, want at least the capped Retry-After of 300ms", d)
	}
}

func TestParseRetryAfterForms(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0}, {"2", 2 * time.Second}, {"0.5", 500 * time.Millisecond}, {"-3", 0}, {"soon", 0},
		{now.Add(7 * time.Second).Format(http.TimeFormat), 7 * time.Second},
		{now.Add(-7 * time.Second).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		if got := llm.ParseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestSchemaFallback(t *testing.T) {
	srv := llmtest.NewServer()
	defer srv.Close()
	srv.Always(llmtest.SchemaUnsupported)
	c, _ := llm.New(fastConfig(srv.BaseURL()).WithRetries(0))
	req := ask(`{"a":1}`)
	req.Schema = map[string]any{"type": "object"}
	for i := 0; i < 2; i++ {
		if _, err := c.Complete(context.Background(), req); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	reqs := srv.Requests()
	// First call: rejected with schema, resent without. Second call: no schema at all.
	if len(reqs) != 3 || reqs[0].ResponseFormat == nil || reqs[1].ResponseFormat != nil || reqs[2].ResponseFormat != nil {
		t.Fatalf("requests = %+v", reqs)
	}
}

func TestSamplingSent(t *testing.T) {
	srv := llmtest.NewServer()
	defer srv.Close()
	c, _ := llm.New(fastConfig(srv.BaseURL()))
	zero, seed, mt := 0.0, int64(42), 64
	req := ask("x")
	req.Sampling = llm.Sampling{Temperature: &zero, Seed: &seed, MaxTokens: &mt}
	if _, err := c.Complete(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	got := srv.Requests()[0]
	if got.Temperature == nil || *got.Temperature > 1e-6 {
		t.Errorf("temperature 0 not sent as (near) zero: %v", got.Temperature)
	}
	if got.Seed == nil || *got.Seed != 42 || got.MaxTokens == nil || *got.MaxTokens != 64 {
		t.Errorf("sampling not sent: %+v", got)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	srv := llmtest.NewServer()
	defer srv.Close()
	srv.SlowDelay = 20 * time.Millisecond
	srv.Always(llmtest.Slow)
	c, _ := llm.New(fastConfig(srv.BaseURL()).WithConcurrency(3))
	var wg sync.WaitGroup
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Complete(context.Background(), ask("x")); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if p := srv.PeakInFlight(); p > 3 || p < 2 {
		t.Errorf("peak in flight = %d, want 2..3", p)
	}
}

func TestRateLimit(t *testing.T) {
	srv := llmtest.NewServer()
	defer srv.Close()
	c, _ := llm.New(fastConfig(srv.BaseURL()).WithRateLimit(50, 1))
	start := time.Now()
	for range 6 {
		if _, err := c.Complete(context.Background(), ask("x")); err != nil {
			t.Fatal(err)
		}
	}
	// 1 burst token then 5 more at 50/s: at least 100ms.
	if d := time.Since(start); d < 90*time.Millisecond {
		t.Errorf("6 calls at 50/s with burst 1 took %v, want >= 100ms", d)
	}
}

func TestCancelDuringBackoff(t *testing.T) {
	srv := llmtest.NewServer()
	defer srv.Close()
	srv.Always(llmtest.ServerError)
	c, _ := llm.New(llm.NewConfig(srv.BaseURL(), "m").WithBackoff(time.Hour, time.Hour))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Complete(ctx, ask("x"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if time.Since(start) > time.Second {
		t.Error("cancellation did not interrupt the backoff")
	}
}

func TestUnreachable(t *testing.T) {
	srv := llmtest.NewServer()
	url := srv.BaseURL()
	srv.Close()
	c, _ := llm.New(fastConfig(url).WithRetries(1))
	if _, err := c.Complete(context.Background(), ask("x")); !errors.Is(err, llm.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
}
