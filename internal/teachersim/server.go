package teachersim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Config configures a simulated teacher. The zero value is not usable; start from NewConfig.
type Config struct {
	seed    uint64
	rate    float64
	script  []string
	styles  []string
	model   string
	maxBody int64
}

// NewConfig returns a teacher that never seeds faults, answers in every style in turn by a
// seeded choice, and calls itself "sim-frontier".
func NewConfig() *Config {
	return &Config{model: "sim-frontier", styles: []string{StyleThink, StyleFence, StyleProse}, maxBody: 8 << 20}
}

// WithSeed selects one simulated teacher: the same seed and requests give the same replies.
func (c *Config) WithSeed(seed uint64) *Config { c.seed = seed; return c }

// WithFaultRate makes a fraction rate (0..1) of the replies carry a fault, of a class drawn
// uniformly from Faults().
func (c *Config) WithFaultRate(rate float64) *Config { c.rate = rate; return c }

// WithFaults fixes the fault of each successive request (cycling), for tests that need every
// class; FaultNone for a clean reply.
func (c *Config) WithFaults(faults ...string) *Config { c.script = slices.Clone(faults); return c }

// WithStyles restricts the reply styles drawn from (StyleSchema is used whenever a request
// carries a response_format, whatever this says).
func (c *Config) WithStyles(styles ...string) *Config { c.styles = slices.Clone(styles); return c }

// Validate reports a configuration that cannot serve.
func (c *Config) Validate() error {
	if c.rate < 0 || c.rate > 1 {
		return fmt.Errorf("fault rate %g outside [0, 1]", c.rate)
	}
	known := map[string]bool{FaultNone: true}
	for _, f := range Faults() {
		known[f] = true
	}
	for _, f := range c.script {
		if !known[f] {
			return fmt.Errorf("unknown fault class %q", f)
		}
	}
	if len(c.styles) == 0 {
		return errors.New("no reply style")
	}
	return nil
}

// Decision records what the teacher did for one request.
type Decision struct {
	Round  int    `json:"round"`
	Repair bool   `json:"repair"`
	Family string `json:"family"`
	Fault  string `json:"fault"`
	Style  string `json:"style"`
	Bytes  int    `json:"bytes"`
}

// Server is a running simulated teacher.
type Server struct {
	cfg  *Config
	ln   net.Listener
	srv  *http.Server
	done chan struct{}
	err  error

	mu        sync.Mutex
	seq       uint64
	decisions []Decision
}

// Start listens on addr (use 127.0.0.1:0 for a free port) and serves until ctx ends.
func Start(ctx context.Context, addr string, cfg *Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("sim teacher: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sim teacher: %w", err)
	}
	s := &Server{cfg: cfg, ln: ln, done: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", s.complete)
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": []any{map[string]any{"id": cfg.model, "object": "model"}}})
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.err = err
		}
	}()
	go func() {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			s.srv.Shutdown(sctx)
		case <-s.done:
		}
	}()
	return s, nil
}

// URL is the base URL clients use (…/v1).
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() + "/v1" }

// Addr is the listening address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Model is the name the teacher answers to.
func (s *Server) Model() string { return s.cfg.model }

// Done is closed when the server has stopped; Err then says why, if not by its context.
func (s *Server) Done() <-chan struct{} { return s.done }

// Err is the error that stopped the server, if any.
func (s *Server) Err() error { return s.err }

// Decisions returns what the teacher did for each request so far, in order.
func (s *Server) Decisions() []Decision {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.decisions)
}

type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type chatRequest struct {
	Model          string          `json:"model"`
	Messages       []message       `json:"messages"`
	ResponseFormat json.RawMessage `json:"response_format,omitempty"`
}

func (s *Server) complete(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, s.cfg.maxBody+1))
	if err != nil || int64(len(body)) > s.cfg.maxBody {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]any{"error": map[string]any{"message": "request too large or unreadable"}})
		return
	}
	var req chatRequest
	if err := json.Unmarshal(body, &req); err != nil || len(req.Messages) == 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{"message": "want a chat completion request with messages"}})
		return
	}
	rq, ok := readRequest(req.Messages)
	d := Decision{Round: rq.round, Repair: rq.repair, Fault: FaultNone}
	var text string
	if !ok {
		text = "I could not find a plan and its traces in your message."
	} else {
		first := ""
		for _, m := range req.Messages {
			if m.Role == "user" {
				first = m.Content
				break
			}
		}
		s.mu.Lock()
		seq := s.seq
		if !rq.repair {
			s.seq++
		} else if seq > 0 {
			seq-- // a repair belongs to the request before it
		}
		s.mu.Unlock()
		d.Fault = pickFault(s.cfg, seq, fmt.Sprintf("%d\x00%s", s.cfg.seed, first))
		a := decide(rq, d.Fault)
		d.Family = a.family
		d.Style = s.style(first, len(req.ResponseFormat) > 0 && string(req.ResponseFormat) != "null")
		textFault := d.Fault
		if rq.repair && (textFault == FaultJSON || textFault == FaultOverlong) {
			textFault = FaultNone // asked to correct its reply, the model sends the JSON alone
			d.Style = StyleSchema
		}
		text = render(a, d.Style, textFault)
	}
	d.Bytes = len(text)
	s.mu.Lock()
	s.decisions = append(s.decisions, d)
	s.mu.Unlock()
	in, out := 0, len(text)/4+1
	for _, m := range req.Messages {
		in += len(m.Content)/4 + 1
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": "simteacher", "object": "chat.completion", "model": s.cfg.model,
		"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
			"message": map[string]any{"role": "assistant", "content": text}}},
		"usage": map[string]any{"prompt_tokens": in, "completion_tokens": out, "total_tokens": in + out},
	})
}

func (s *Server) style(key string, schema bool) string {
	if schema {
		return StyleSchema
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%d\x00%s", s.cfg.seed, key)
	return s.cfg.styles[h.Sum64()%uint64(len(s.cfg.styles))]
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
