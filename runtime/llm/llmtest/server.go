package llmtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Fault is what the server does instead of answering normally.
type Fault int

// The faults the server can inject.
const (
	None              Fault = iota
	TooManyRequests         // 429 with a Retry-After header
	ServerError             // 500 with an OpenAI error body
	Slow                    // answer only after Server.SlowDelay
	Truncated               // a 200 whose JSON body stops half way
	Garbage                 // a 200 whose body is not JSON
	WrongContentType        // a 200 text/html page
	BadRequest              // 400 that is not about response_format
	SchemaUnsupported       // 400 mentioning response_format whenever a request carries one
	NoChoices               // a well-formed reply with an empty choices list
)

// Request is what the server received, decoded.
type Request struct {
	Model          string         `json:"model"`
	Messages       []Message      `json:"messages"`
	Temperature    *float64       `json:"temperature"`
	TopP           *float64       `json:"top_p"`
	MaxTokens      *int           `json:"max_tokens"`
	Seed           *int64         `json:"seed"`
	ResponseFormat map[string]any `json:"response_format"`
}

// Message is one chat turn.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Server is a fault-injecting OpenAI-compatible endpoint.
type Server struct {
	*httptest.Server
	// Answer computes the assistant's reply; the default echoes the last user message.
	Answer func(Request) string
	// RetryAfter is the Retry-After header value sent with 429s ("1", an HTTP date, or "").
	RetryAfter string
	// SlowDelay is how long a Slow fault waits before answering (or until the client leaves).
	SlowDelay time.Duration

	mu       sync.Mutex
	faults   []Fault
	always   Fault
	requests []Request
	calls    atomic.Int64
	inFlight atomic.Int64
	peak     atomic.Int64
}

// NewServer starts a server. Close it when done.
func NewServer() *Server {
	s := &Server{SlowDelay: 2 * time.Second}
	s.Server = httptest.NewServer(http.HandlerFunc(s.handle))
	return s
}

// URL of the API root, ready for a client's base URL.
func (s *Server) BaseURL() string { return s.Server.URL + "/v1" }

// Script queues faults for the next requests, one per request, in order.
func (s *Server) Script(f ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f...)
}

// Always injects f into every request once the script is exhausted (None to stop).
func (s *Server) Always(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.always = f
}

// Calls is how many requests reached the server.
func (s *Server) Calls() int { return int(s.calls.Load()) }

// PeakInFlight is the largest number of requests the server handled at once.
func (s *Server) PeakInFlight() int { return int(s.peak.Load()) }

// Requests returns a copy of every request received, in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

func (s *Server) next(req Request) Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, req)
	if len(s.faults) > 0 {
		f := s.faults[0]
		s.faults = s.faults[1:]
		return f
	}
	return s.always
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	s.calls.Add(1)
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for {
		p := s.peak.Load()
		if n <= p || s.peak.CompareAndSwap(p, n) {
			break
		}
	}
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/chat/completions") {
		http.Error(w, `{"error":{"message":"not found","type":"invalid_request_error"}}`, http.StatusNotFound)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var req Request
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid JSON body")
		return
	}
	fault := s.next(req)
	switch fault {
	case TooManyRequests:
		if s.RetryAfter != "" {
			w.Header().Set("Retry-After", s.RetryAfter)
		}
		writeError(w, http.StatusTooManyRequests, "rate limit reached")
		return
	case ServerError:
		writeError(w, http.StatusInternalServerError, "internal error")
		return
	case BadRequest:
		writeError(w, http.StatusBadRequest, "model not found")
		return
	case SchemaUnsupported:
		if req.ResponseFormat != nil {
			writeError(w, http.StatusBadRequest, "response_format json_schema is not supported")
			return
		}
	case Slow:
		select {
		case <-time.After(s.SlowDelay):
		case <-r.Context().Done():
			return
		}
	case Garbage:
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "this is not json at all {{{")
		return
	case WrongContentType:
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<html><body>502 Bad Gateway</body></html>")
		return
	}
	answer := lastUser(req)
	if s.Answer != nil {
		answer = s.Answer(req)
	}
	choices := []any{map[string]any{
		"index":         0,
		"message":       map[string]any{"role": "assistant", "content": answer},
		"finish_reason": "stop",
	}}
	if fault == NoChoices {
		choices = []any{}
	}
	resp, _ := json.Marshal(map[string]any{
		"id":      fmt.Sprintf("chatcmpl-%d", s.calls.Load()),
		"object":  "chat.completion",
		"created": 0,
		"model":   req.Model,
		"choices": choices,
		"usage": map[string]any{
			"prompt_tokens":     len(body) / 4,
			"completion_tokens": len(answer)/4 + 1,
			"total_tokens":      len(body)/4 + len(answer)/4 + 1,
		},
	})
	w.Header().Set("Content-Type", "application/json")
	if fault == Truncated {
		resp = resp[:len(resp)/2]
	}
	_, _ = w.Write(resp)
}

func lastUser(req Request) string {
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if req.Messages[i].Role == "user" {
			return req.Messages[i].Content
		}
	}
	return ""
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"message": msg, "type": "test_error"}})
	_, _ = w.Write(b)
}
