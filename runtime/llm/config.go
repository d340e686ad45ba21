package llm

import (
	"net/http"
	"time"
)

// Config describes one student endpoint. It is immutable: every With method returns a copy.
type Config struct {
	baseURL, model, apiKey string
	timeout                time.Duration
	maxRetries             int
	backoffBase            time.Duration
	backoffMax             time.Duration
	maxRetryAfter          time.Duration
	concurrency            int
	rate                   float64
	burst                  int
	maxBodyBytes           int64
	httpClient             *http.Client
	onSend                 func()
}

// NewConfig returns the configuration for the endpoint at baseURL (for example
// "http://localhost:8000/v1") serving model, with production defaults: 60s per request, 5
// retries with exponential backoff from 250ms up to 10s, Retry-After honoured up to 60s,
// 8 requests in flight, no rate limit, replies up to 8 MiB.
func NewConfig(baseURL, model string) Config {
	return Config{
		baseURL:       baseURL,
		model:         model,
		timeout:       60 * time.Second,
		maxRetries:    5,
		backoffBase:   250 * time.Millisecond,
		backoffMax:    10 * time.Second,
		maxRetryAfter: 60 * time.Second,
		concurrency:   8,
		maxBodyBytes:  8 << 20,
	}
}

// BaseURL is the endpoint's base URL.
func (c Config) BaseURL() string { return c.baseURL }

// Model is the model name sent with every request.
func (c Config) Model() string { return c.model }

// WithAPIKey sets the bearer token sent with every request.
func (c Config) WithAPIKey(key string) Config { c.apiKey = key; return c }

// WithTimeout bounds one HTTP request (not the whole call with its retries).
func (c Config) WithTimeout(d time.Duration) Config { c.timeout = d; return c }

// WithRetries sets how many times a retryable failure is retried; 0 disables retries.
func (c Config) WithRetries(n int) Config { c.maxRetries = max(n, 0); return c }

// WithBackoff sets the first retry delay and the cap of the exponential backoff.
func (c Config) WithBackoff(base, maxDelay time.Duration) Config {
	c.backoffBase, c.backoffMax = base, maxDelay
	return c
}

// WithMaxRetryAfter caps how long a server's Retry-After header can make the client wait.
func (c Config) WithMaxRetryAfter(d time.Duration) Config { c.maxRetryAfter = d; return c }

// WithConcurrency caps the requests in flight to the endpoint (minimum 1).
func (c Config) WithConcurrency(n int) Config { c.concurrency = max(n, 1); return c }

// WithRateLimit caps the request rate to perSecond with bursts of burst; perSecond <= 0 means
// no rate limit.
func (c Config) WithRateLimit(perSecond float64, burst int) Config {
	c.rate, c.burst = perSecond, max(burst, 1)
	return c
}

// WithMaxBodyBytes caps the size of a reply body; larger replies are malformed responses.
func (c Config) WithMaxBodyBytes(n int64) Config { c.maxBodyBytes = n; return c }

// WithOnSend sets a function called just before every HTTP request is sent (retries included),
// e.g. to record the request durably before it can be billed, so that a killed process still
// knows what it spent. It must be safe for concurrent use and quick.
func (c Config) WithOnSend(f func()) Config { c.onSend = f; return c }

// WithHTTPClient sets the HTTP client (for proxies or custom TLS). Its Transport is wrapped,
// never modified.
func (c Config) WithHTTPClient(hc *http.Client) Config { c.httpClient = hc; return c }
