package simulator

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Config is an immutable server configuration; the With methods return modified copies.
type Config struct {
	knowledge      *Knowledge
	profile        Profile
	seed           uint64
	latencyScale   float64
	maxBodyBytes   int64
	apiKey         string
	requestTimeout time.Duration
}

// NewConfig returns a configuration serving the given knowledge with the given profile, server
// seed 0, no simulated latency (what tests want), a 4 MiB body limit, no API key and a 2-minute
// request timeout.
func NewConfig(k *Knowledge, p Profile) Config {
	return Config{knowledge: k, profile: p, maxBodyBytes: 4 << 20, requestTimeout: 2 * time.Minute}
}

// WithSeed sets the server seed. Together with the profile's seed it selects one simulated model
// instance: which questions are systematically hard, and every per-sample draw.
func (c Config) WithSeed(seed uint64) Config { c.seed = seed; return c }

// WithLatencyScale multiplies the profile's simulated latency (0 disables it, 1 is the profile's
// figure). Negative values count as 0.
func (c Config) WithLatencyScale(s float64) Config { c.latencyScale = max(0, s); return c }

// WithMaxBodyBytes bounds the size of a request body; larger requests get HTTP 413.
func (c Config) WithMaxBodyBytes(n int64) Config { c.maxBodyBytes = n; return c }

// WithAPIKey makes the server require "Authorization: Bearer key" (empty: no check).
func (c Config) WithAPIKey(key string) Config { c.apiKey = key; return c }

// WithRequestTimeout bounds how long one request may take, simulated latency included.
func (c Config) WithRequestTimeout(d time.Duration) Config { c.requestTimeout = d; return c }

// ModelName is the model id the server answers to: the profile's name.
func (c Config) ModelName() string { return c.profile.Name() }

func (c Config) validate() error {
	switch {
	case c.knowledge == nil:
		return errors.New("simulator config: no knowledge")
	case c.profile.spec == nil:
		return errors.New("simulator config: no profile")
	case c.maxBodyBytes <= 0:
		return errors.New("simulator config: max body bytes must be positive")
	case c.requestTimeout <= 0:
		return errors.New("simulator config: request timeout must be positive")
	}
	return nil
}

type handler struct {
	cfg   Config
	model *Model
	// stop is closed when the server shuts down, to end simulated latency waits early.
	stop <-chan struct{}
}

// NewHandler returns the simulator's HTTP handler, for tests that serve it themselves (for
// example with httptest, or wrapped in a fault-injecting middleware). Routes: POST
// /v1/chat/completions, GET /v1/models, GET /v1/models/{id}, GET /health.
func NewHandler(cfg Config) (http.Handler, error) {
	return newHandler(cfg, nil)
}

func newHandler(cfg Config, stop <-chan struct{}) (*handler, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &handler{cfg: cfg, model: &Model{k: cfg.knowledge, p: cfg.profile, seed: cfg.seed}, stop: stop}, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"message":"internal error encoding the response","type":"server_error","param":null,"code":null}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.status, map[string]any{"error": e})
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.cfg.apiKey != "" && r.URL.Path != "/health" {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(h.cfg.apiKey)) != 1 {
			writeError(w, &apiError{status: http.StatusUnauthorized, Type: "invalid_request_error",
				Message: "Incorrect API key provided.", Code: strPtr("invalid_api_key")})
			return
		}
	}
	path := r.URL.Path
	switch {
	case path == "/v1/chat/completions":
		if r.Method != http.MethodPost {
			h.methodNotAllowed(w, r, http.MethodPost)
			return
		}
		h.chat(w, r)
	case path == "/v1/models":
		if r.Method != http.MethodGet {
			h.methodNotAllowed(w, r, http.MethodGet)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": []any{h.modelObject()}})
	case strings.HasPrefix(path, "/v1/models/"):
		if r.Method != http.MethodGet {
			h.methodNotAllowed(w, r, http.MethodGet)
			return
		}
		if strings.TrimPrefix(path, "/v1/models/") != h.cfg.ModelName() {
			writeError(w, h.modelNotFound(strings.TrimPrefix(path, "/v1/models/")))
			return
		}
		writeJSON(w, http.StatusOK, h.modelObject())
	case path == "/health":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	default:
		writeError(w, &apiError{status: http.StatusNotFound, Type: "invalid_request_error",
			Message: fmt.Sprintf("Unknown request URL: %s %s. Please check the URL for typos.", r.Method, path),
			Code:    strPtr("unknown_url")})
	}
}

func (h *handler) methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, &apiError{status: http.StatusMethodNotAllowed, Type: "invalid_request_error",
		Message: fmt.Sprintf("Not allowed to %s on %s. (HINT: Perhaps you meant to use a different HTTP method?)", r.Method, r.URL.Path),
		Code:    strPtr("method_not_allowed")})
}

func (h *handler) modelObject() map[string]any {
	return map[string]any{"id": h.cfg.ModelName(), "object": "model", "created": 0, "owned_by": "sgde-simulator"}
}

func (h *handler) modelNotFound(name string) *apiError {
	return &apiError{status: http.StatusNotFound, Type: "invalid_request_error", Param: strPtr("model"),
		Message: fmt.Sprintf("The model `%s` does not exist or you do not have access to it. This simulator serves `%s`.", name, h.cfg.ModelName()),
		Code:    strPtr("model_not_found")}
}

type wireChoice struct {
	Index        int         `json:"index"`
	Message      wireMessage `json:"message"`
	FinishReason string      `json:"finish_reason"`
	Logprobs     *struct{}   `json:"logprobs"`
}

type wireMessage struct {
	Role    string  `json:"role"`
	Content string  `json:"content"`
	Refusal *string `json:"refusal"`
}

type wireUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

type wireResponse struct {
	ID                string       `json:"id"`
	Object            string       `json:"object"`
	Created           int64        `json:"created"`
	Model             string       `json:"model"`
	SystemFingerprint string       `json:"system_fingerprint"`
	Choices           []wireChoice `json:"choices"`
	Usage             wireUsage    `json:"usage"`
}

func (h *handler) chat(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.requestTimeout)
	defer cancel()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.maxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, &apiError{status: http.StatusRequestEntityTooLarge, Type: "invalid_request_error",
				Message: fmt.Sprintf("request body larger than %d bytes", h.cfg.maxBodyBytes), Code: strPtr("request_too_large")})
			return
		}
		writeError(w, invalid("", "could not read the request body: %v", err))
		return
	}
	req, e := parseChatRequest(body)
	if e != nil {
		writeError(w, e)
		return
	}
	if req.model != h.cfg.ModelName() {
		writeError(w, h.modelNotFound(req.model))
		return
	}
	if req.format == "json_object" && !strings.Contains(strings.ToLower(joinContent(req.messages)), "json") {
		writeError(w, invalid("messages", "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'."))
		return
	}
	var nonce uint64
	if req.seed == nil && req.temperature >= temperatureEps {
		nonce = randomUint64() | 1
	}
	g, e := h.model.generate(req, nonce)
	if e != nil {
		writeError(w, e)
		return
	}
	if d := time.Duration(g.latencyMS * h.cfg.latencyScale * float64(time.Millisecond)); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			writeError(w, &apiError{status: http.StatusServiceUnavailable, Type: "server_error",
				Message: "request cancelled or timed out during simulated generation", Code: strPtr("timeout")})
			return
		case <-h.stop:
			t.Stop()
			writeError(w, &apiError{status: http.StatusServiceUnavailable, Type: "server_error",
				Message: "the simulator is shutting down", Code: strPtr("shutting_down")})
			return
		}
	}
	resp := wireResponse{
		ID:                fmt.Sprintf("chatcmpl-sim%016x", randomUint64()), // unique, like a real endpoint's
		Object:            "chat.completion",
		Created:           time.Now().Unix(),
		Model:             h.cfg.ModelName(),
		SystemFingerprint: Fingerprint(h.cfg.ModelName(), h.cfg.seed, g.recorded),
		Choices:           make([]wireChoice, len(g.choices)),
		Usage:             wireUsage{PromptTokens: g.promptTokens},
	}
	for i, c := range g.choices {
		resp.Choices[i] = wireChoice{Index: i, Message: wireMessage{Role: "assistant", Content: c.text}, FinishReason: c.finish}
		resp.Usage.CompletionTokens += c.tokens
	}
	resp.Usage.TotalTokens = resp.Usage.PromptTokens + resp.Usage.CompletionTokens
	writeJSON(w, http.StatusOK, resp)
}

// Fingerprint is the system_fingerprint of a response: the model and server seed, and whether
// the choices are a real model's recorded outputs ("+recorded") or simulated ones ("+simulated").
// The runtime counts the two (llm.SourceOf) so that every accuracy says how much of it rests on
// recorded answers.
func Fingerprint(model string, seed uint64, recorded bool) string {
	src := "simulated"
	if recorded {
		src = "recorded"
	}
	return fmt.Sprintf("sgde-sim-%s-%d+%s", model, seed, src)
}

func randomUint64() uint64 {
	var b [8]byte
	rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:])
}

func joinContent(msgs []message) string {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString(m.content)
		b.WriteByte('\n')
	}
	return b.String()
}

// Server is a running simulator.
type Server struct {
	srv       *http.Server
	addr      string
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	err       error
}

// Start listens on addr ("127.0.0.1:0" picks a free port) and serves cfg until ctx is cancelled
// or Close is called. The returned server is already accepting connections.
func Start(ctx context.Context, addr string, cfg Config) (*Server, error) {
	stop := make(chan struct{})
	h, err := newHandler(cfg, stop)
	if err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("simulator listen: %w", err)
	}
	s := &Server{
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       time.Minute,
			WriteTimeout:      cfg.requestTimeout + 10*time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    64 << 10,
		},
		addr: ln.Addr().String(),
		stop: stop,
		done: make(chan struct{}),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- s.srv.Serve(ln) }()
	go func() {
		defer close(s.done)
		select {
		case <-ctx.Done():
			s.shutdown()
		case <-stop:
		case err := <-serveErr:
			if !errors.Is(err, http.ErrServerClosed) {
				s.err = err
			}
			s.closeOnce.Do(func() { close(s.stop) })
			return
		}
		if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) && s.err == nil {
			s.err = err
		}
	}()
	return s, nil
}

// shutdown stops accepting, ends simulated latency waits, and lets in-flight requests finish for
// up to five seconds before closing their connections.
func (s *Server) shutdown() {
	s.closeOnce.Do(func() {
		close(s.stop)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			s.srv.Close()
		}
	})
}

// Addr is the address the server listens on, host:port.
func (s *Server) Addr() string { return s.addr }

// URL is the OpenAI base URL clients use, "http://host:port/v1".
func (s *Server) URL() string { return "http://" + s.addr + "/v1" }

// Close shuts the server down gracefully and waits for it to stop; safe to call more than once.
func (s *Server) Close() error {
	s.shutdown()
	<-s.done
	return s.err
}

// Done is closed once the server has stopped (after Close or the cancellation of Start's ctx).
func (s *Server) Done() <-chan struct{} { return s.done }

// Err is the error that stopped the server, if any; valid once Done is closed.
func (s *Server) Err() error {
	<-s.done
	return s.err
}
