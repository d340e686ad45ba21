package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sgde-project/sgde/internal/ratelimit"

	openai "github.com/sashabaranov/go-openai"
)

// Client calls one OpenAI-compatible endpoint. It is safe for concurrent use; its limits
// (requests in flight, request rate) are shared by every caller.
type Client struct {
	cfg    Config
	api    *openai.Client
	sem    semaphore
	bucket *ratelimit.Bucket
	// noSchema is set once the endpoint has rejected a json_schema response_format, so that
	// later requests do not pay for the rejection again.
	noSchema atomic.Bool
	// sent counts HTTP requests handed to the transport, whatever became of them: the figure
	// an operator compares with the endpoint's own logs and bill.
	sent atomic.Int64
}

// Sent is the number of HTTP requests the client has sent since it was created, retries and
// requests of calls that failed included.
func (c *Client) Sent() int64 { return c.sent.Load() }

// New returns a client for cfg.
func New(cfg Config) (*Client, error) {
	if cfg.baseURL == "" {
		return nil, errors.New("student endpoint: base URL is empty")
	}
	if cfg.model == "" {
		return nil, errors.New("student endpoint: model is empty")
	}
	base := http.DefaultTransport
	if cfg.httpClient != nil && cfg.httpClient.Transport != nil {
		base = cfg.httpClient.Transport
	}
	c := &Client{
		cfg:    cfg,
		sem:    make(semaphore, max(cfg.concurrency, 1)),
		bucket: ratelimit.New(cfg.rate, cfg.burst, nil),
	}
	hc := &http.Client{Transport: &transport{base: base, maxBody: cfg.maxBodyBytes, sent: &c.sent, onSend: cfg.onSend}}
	if cfg.httpClient != nil {
		hc.Jar = cfg.httpClient.Jar
	}
	oc := openai.DefaultConfig(cfg.apiKey)
	oc.BaseURL = strings.TrimRight(cfg.baseURL, "/")
	oc.HTTPClient = hc
	c.api = openai.NewClientWithConfig(oc)
	return c, nil
}

// Config returns the client's configuration.
func (c *Client) Config() Config { return c.cfg }

// Complete sends req, retrying 429, 5xx, timeouts, resets and malformed replies with
// exponential backoff and jitter (at least as long as any Retry-After header asks, up to the
// configured cap). It returns once a reply arrives, the retry budget is spent, the endpoint
// rejects the request, or ctx is done. The returned Response's Attempts counts the HTTP requests
// sent, on failure too.
func (c *Client) Complete(ctx context.Context, req Request) (Response, error) {
	var last error
	sent := 0
	for attempt := 0; ; attempt++ {
		useSchema := req.Schema != nil && !c.noSchema.Load()
		resp, retryAfter, didSend, err := c.once(ctx, req, useSchema)
		if didSend {
			sent++
		}
		if err == nil {
			resp.Attempts = sent
			return resp, nil
		}
		failed := Response{Attempts: sent}
		if ctx.Err() != nil {
			return failed, fmt.Errorf("student call: %w", ctx.Err())
		}
		class := classify(err)
		if class == classSchemaRejected && useSchema {
			// The endpoint does not support json_schema: remember it and resend at once.
			// This does not count against the retry budget.
			c.noSchema.Store(true)
			attempt--
			continue
		}
		last = err
		switch class {
		case classRejected, classSchemaRejected:
			return failed, fmt.Errorf("%w: %v", ErrRejected, err)
		}
		if attempt >= c.cfg.maxRetries {
			sentinel := ErrUnavailable
			if class == classBadResponse {
				sentinel = ErrBadResponse
			}
			return failed, fmt.Errorf("%w after %d attempts: %v", sentinel, attempt+1, last)
		}
		if err := sleep(ctx, c.delay(attempt, retryAfter)); err != nil {
			return failed, fmt.Errorf("student call: %w (last error: %v)", err, last)
		}
	}
}

// delay is the wait before retry number attempt+1: full jitter over an exponential ceiling,
// never shorter than the server's Retry-After (capped).
func (c *Client) delay(attempt int, retryAfter time.Duration) time.Duration {
	ceil := c.cfg.backoffBase << min(attempt, 30)
	if ceil <= 0 || ceil > c.cfg.backoffMax {
		ceil = c.cfg.backoffMax
	}
	d := ceil/2 + time.Duration(rand.Int64N(int64(ceil/2)+1))
	if retryAfter > 0 {
		d = max(d, min(retryAfter, c.cfg.maxRetryAfter))
	}
	return d
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// once makes one HTTP request under the endpoint's limits. sent reports whether the request
// reached the transport (it did not when ctx ended while waiting for the limits).
func (c *Client) once(ctx context.Context, req Request, useSchema bool) (resp Response, retryAfter time.Duration, sent bool, err error) {
	if err := c.bucket.Wait(ctx); err != nil {
		return Response{}, 0, false, err
	}
	if err := c.sem.acquire(ctx); err != nil {
		return Response{}, 0, false, err
	}
	defer c.sem.release()

	actx, cancel := context.WithTimeout(ctx, c.cfg.timeout)
	defer cancel()
	info := &attemptInfo{}
	actx = context.WithValue(actx, attemptKey{}, info)

	oreq, err := c.request(req, useSchema)
	if err != nil {
		return Response{}, 0, false, err
	}
	out, err := c.api.CreateChatCompletion(actx, oreq)
	sent = info.sent
	if err != nil {
		return Response{}, info.retryAfter, sent, err
	}
	if len(out.Choices) == 0 {
		return Response{}, 0, sent, errNoChoices
	}
	return Response{
		Text:         out.Choices[0].Message.Content,
		FinishReason: string(out.Choices[0].FinishReason),
		Fingerprint:  out.SystemFingerprint,
		Usage: Usage{
			PromptTokens:     out.Usage.PromptTokens,
			CompletionTokens: out.Usage.CompletionTokens,
			TotalTokens:      out.Usage.TotalTokens,
		},
	}, 0, sent, nil
}

var errNoChoices = errors.New("reply has no choices")

func (c *Client) request(req Request, useSchema bool) (openai.ChatCompletionRequest, error) {
	msgs := make([]openai.ChatCompletionMessage, len(req.Messages))
	for i, m := range req.Messages {
		msgs[i] = openai.ChatCompletionMessage{Role: m.Role, Content: m.Content}
	}
	o := openai.ChatCompletionRequest{Model: c.cfg.model, Messages: msgs}
	s := req.Sampling
	if s.Temperature != nil {
		o.Temperature = nonZero(*s.Temperature)
	}
	if s.TopP != nil {
		o.TopP = nonZero(*s.TopP)
	}
	if s.MaxTokens != nil {
		//lint:ignore SA1019 local OpenAI-compatible servers (vLLM, llama.cpp, Ollama) read max_tokens
		o.MaxTokens = *s.MaxTokens
	}
	if s.Seed != nil {
		seed := int(*s.Seed)
		o.Seed = &seed
	}
	if useSchema {
		raw, err := json.Marshal(req.Schema)
		if err != nil {
			return o, fmt.Errorf("%w: schema: %v", ErrRejected, err)
		}
		o.ResponseFormat = &openai.ChatCompletionResponseFormat{
			Type: openai.ChatCompletionResponseFormatTypeJSONSchema,
			JSONSchema: &openai.ChatCompletionResponseFormatJSONSchema{
				Name:   "output",
				Schema: json.RawMessage(raw),
			},
		}
	}
	return o, nil
}

// nonZero works around go-openai's omitempty on float fields: a deliberate 0 would be dropped
// and the server would apply its default (usually 1), so 0 is sent as the smallest float32.
func nonZero(f float64) float32 {
	if f == 0 {
		return math.SmallestNonzeroFloat32
	}
	return float32(f)
}

type errClass int

const (
	classRetry errClass = iota
	classBadResponse
	classRejected
	classSchemaRejected
)

// classify decides whether err is worth retrying.
func classify(err error) errClass {
	status, body := 0, ""
	var apiErr *openai.APIError
	var reqErr *openai.RequestError
	switch {
	case errors.As(err, &apiErr):
		status, body = apiErr.HTTPStatusCode, apiErr.Message
		if apiErr.Param != nil {
			body += " " + *apiErr.Param
		}
	case errors.As(err, &reqErr):
		status, body = reqErr.HTTPStatusCode, string(reqErr.Body)
	}
	if status != 0 {
		switch {
		case status == http.StatusTooManyRequests, status == http.StatusRequestTimeout, status >= 500:
			return classRetry
		case status == http.StatusBadRequest && strings.Contains(strings.ToLower(body), "response_format"):
			return classSchemaRejected
		case status >= 400:
			return classRejected
		}
		return classBadResponse
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, errNoChoices), errors.Is(err, errBodyTooLarge),
		errors.As(err, &syn), errors.As(err, &typ),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return classBadResponse
	case errors.Is(err, ErrRejected):
		return classRejected
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, context.DeadlineExceeded) {
		return classRetry
	}
	// Unknown transport failures are retried: the budget bounds the cost of being wrong.
	return classRetry
}

// attemptInfo carries what the transport saw back to the retry loop, because go-openai does
// not expose the headers of error responses.
type attemptInfo struct {
	retryAfter time.Duration
	sent       bool
}

type attemptKey struct{}

// transport counts requests, records Retry-After and caps reply bodies.
type transport struct {
	base    http.RoundTripper
	maxBody int64
	sent    *atomic.Int64
	onSend  func()
}

// RoundTrip implements http.RoundTripper.
func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	// Counted before the round trip: a request that hangs or is cut off was still sent, and
	// the endpoint may have done (and billed) the work.
	t.sent.Add(1)
	if t.onSend != nil {
		t.onSend()
	}
	if info, ok := r.Context().Value(attemptKey{}).(*attemptInfo); ok {
		info.sent = true
	}
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	if info, ok := r.Context().Value(attemptKey{}).(*attemptInfo); ok {
		info.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	if t.maxBody > 0 {
		resp.Body = &capped{rc: resp.Body, left: t.maxBody}
	}
	return resp, nil
}

var errBodyTooLarge = errors.New("reply body too large")

type capped struct {
	rc   io.ReadCloser
	left int64
}

// Read reads until the cap, then fails with errBodyTooLarge.
func (c *capped) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.rc.Read(p)
	c.left -= int64(n)
	return n, err
}

func (c *capped) Close() error { return c.rc.Close() }

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP-date. Unparseable or
// past values yield 0.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 || math.IsNaN(secs) || secs > 1e6 {
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
