package llm

import (
	"context"
	"errors"
	"strings"
)

// Roles of a chat message.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// Message is one chat turn.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Sampling holds the sampling parameters sent with a request. Nil means "server default".
type Sampling struct {
	Temperature *float64 `json:"temperature,omitempty"`
	TopP        *float64 `json:"top_p,omitempty"`
	MaxTokens   *int     `json:"max_tokens,omitempty"`
	Seed        *int64   `json:"seed,omitempty"`
}

// Request is one chat completion.
type Request struct {
	Messages []Message `json:"messages"`
	Sampling Sampling  `json:"sampling"`
	// Schema, when set, is a JSON Schema the reply must follow. It is sent as a json_schema
	// response_format where the endpoint accepts one and ignored otherwise: callers must still
	// parse the reply leniently.
	Schema map[string]any `json:"schema,omitempty"`
}

// Usage counts the tokens of one call.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// Response is the student's reply to one Request.
type Response struct {
	// Text is the content of the first choice, verbatim.
	Text string `json:"text"`
	// FinishReason is the server's finish_reason ("stop", "length", ...).
	FinishReason string `json:"finish_reason,omitempty"`
	Usage        Usage  `json:"usage"`
	// Fingerprint is the endpoint's system_fingerprint; SourceOf reads from it whether the
	// answer was a real model's recorded output or a simulated one.
	Fingerprint string `json:"system_fingerprint,omitempty"`
	// Attempts is how many HTTP requests the call took (1 when nothing was retried). It is not
	// stored in caches: a replayed response reports 0.
	Attempts int `json:"-"`
}

// Where a student answer came from, as SourceOf reads it from the system fingerprint. The
// project's simulator ends its fingerprint with "+recorded" when it replays a real model's
// recorded output and "+simulated" when it draws the answer from its profile; any other
// endpoint's answers are SourceModel.
const (
	SourceRecorded  = "recorded"
	SourceSimulated = "simulated"
	SourceModel     = "model"
)

// SourceOf classifies a system fingerprint (see SourceRecorded).
func SourceOf(fingerprint string) string {
	switch {
	case strings.HasSuffix(fingerprint, "+"+SourceRecorded):
		return SourceRecorded
	case strings.HasSuffix(fingerprint, "+"+SourceSimulated):
		return SourceSimulated
	}
	return SourceModel
}

// Completer is anything that answers chat completions: the HTTP Client, the runtime's cache
// around it, or an in-process fake in tests and benchmarks.
type Completer interface {
	Complete(ctx context.Context, req Request) (Response, error)
}

// Errors callers branch on with errors.Is. Every error Client.Complete returns wraps one of
// them (or the context's error when the caller gave up).
var (
	// ErrUnavailable means the endpoint could not be reached or kept failing with retryable
	// errors (429, 5xx, timeouts, resets) until the retry budget ran out.
	ErrUnavailable = errors.New("student endpoint unavailable")
	// ErrRejected means the endpoint refused the request (a 4xx other than 429).
	ErrRejected = errors.New("student endpoint rejected the request")
	// ErrBadResponse means the endpoint answered with something that is not a chat completion
	// (garbage, a truncated body, no choices), even after retrying.
	ErrBadResponse = errors.New("malformed response from student endpoint")
)
