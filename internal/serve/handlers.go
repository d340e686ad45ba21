package serve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime/trace"
)

// decodeBody decodes the JSON body into v: at most MaxBodyBytes (413 beyond), numbers kept exact,
// one value only. strict rejects unknown fields (the run API); the chat API accepts the many
// fields OpenAI clients send.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, v any, strict bool) *apiError {
	lift := bodyDeadline(w, s.opts.BodyTimeout) // a client trickling its body cannot hold the handler
	defer lift()
	body := http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
	dec := json.NewDecoder(body)
	dec.UseNumber()
	if strict {
		dec.DisallowUnknownFields()
	}
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("trailing data after the JSON value")
			var mbe *http.MaxBytesError
			if errors.As(terr, &mbe) {
				err = terr
			}
		}
	}
	if err == nil {
		return nil
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &apiError{status: http.StatusRequestEntityTooLarge, Type: "invalid_request_error", Code: "request_too_large",
			Message: fmt.Sprintf("the request body is larger than %d bytes", s.opts.MaxBodyBytes)}
	}
	if errors.Is(err, io.EOF) {
		return errInvalid("invalid_json", "", "the request body is empty: send a JSON object")
	}
	return errInvalid("invalid_json", "", "the request body is not valid JSON for this endpoint: "+err.Error())
}

type modelObject struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

func (s *Server) listModels(w http.ResponseWriter, _ *http.Request, c *call) *apiError {
	ps, names := s.granted(c.tenant)
	data := make([]modelObject, len(names))
	for i, n := range names {
		data[i] = modelObject{ID: n, Object: "model", Created: ps.loaded.Unix(), OwnedBy: "sgde"}
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
	return nil
}

func (s *Server) getModel(w http.ResponseWriter, r *http.Request, c *call) *apiError {
	name := r.PathValue("model")
	ps := s.plans.Load()
	if ps.byName[name] == nil || !c.tenant.Grants(name) {
		return errNotFound(name)
	}
	c.plan = name
	writeJSON(w, http.StatusOK, modelObject{ID: name, Object: "model", Created: ps.loaded.Unix(), OwnedBy: "sgde"})
	return nil
}

// planInfo describes a plan to a caller of GET /v1/plans.
type planInfo struct {
	Name        string         `json:"name"`
	Digest      string         `json:"digest"`
	Description string         `json:"description,omitempty"`
	Inputs      []plans.Input  `json:"inputs"`
	Output      string         `json:"output"`
	Substrates  map[string]int `json:"substrates"`
}

func (s *Server) listPlans(w http.ResponseWriter, _ *http.Request, c *call) *apiError {
	ps, names := s.granted(c.tenant)
	data := make([]planInfo, len(names))
	for i, n := range names {
		p := ps.byName[n]
		subs := map[string]int{}
		p.Walk(func(_ *plans.Plan, nd *plans.Node) { subs[string(nd.Substrate)]++ })
		data[i] = planInfo{Name: n, Digest: ps.digests[n], Description: p.Metadata.Description,
			Inputs: append([]plans.Input{}, p.Inputs...), Output: p.Output, Substrates: subs}
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
	return nil
}

// runRequest is the body of POST /v1/plans/{name}/run.
type runRequest struct {
	Inputs map[string]any `json:"inputs"`
	// Trace asks for the run's trace in the response.
	Trace bool `json:"trace"`
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
	StudentCalls     int `json:"student_calls,omitempty"`
}

func (u *usage) add(t *trace.Run) {
	if t == nil {
		return
	}
	u.PromptTokens += t.Tokens.Prompt
	u.CompletionTokens += t.Tokens.Completion
	u.TotalTokens += t.Tokens.Total
	u.StudentCalls += t.Calls
}

func (s *Server) runPlan(w http.ResponseWriter, r *http.Request, c *call) *apiError {
	name := r.PathValue("name")
	var req runRequest
	if err := s.decodeBody(w, r, &req, true); err != nil {
		return err
	}
	if req.Inputs == nil {
		return errInvalid("invalid_input", "inputs", `the body must be {"inputs": {...}} with the plan's inputs`)
	}
	prog, digest, aerr := s.program(r.Context(), c, name)
	if aerr != nil {
		return aerr
	}
	res, aerr := s.runs(r.Context(), c, prog, req.Inputs, 1)
	if aerr != nil {
		return aerr
	}
	var u usage
	u.add(res[0].Trace)
	out := map[string]any{"plan": name, "digest": digest, "output": res[0].Output, "usage": u}
	if res[0].Trace != nil {
		out["latency_ms"] = res[0].Trace.LatencyMS
	}
	if req.Trace {
		out["trace"] = res[0].Trace
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// chatRequest is the part of an OpenAI chat completion request the server reads; the other
// fields clients send (temperature, max_tokens, ...) are accepted and ignored: the plan decides.
type chatRequest struct {
	Model         string        `json:"model"`
	Messages      []chatMessage `json:"messages"`
	N             *int          `json:"n"`
	Stream        bool          `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// text returns a message's text: a string content, or the text parts of an array content.
func (m chatMessage) text() (string, error) {
	if t := bytes.TrimSpace(m.Content); len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return "", errors.New("content is missing: send the plan's input as text")
	}
	var s string
	if err := json.Unmarshal(m.Content, &s); err == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(m.Content, &parts); err != nil {
		return "", errors.New("content must be a string or an array of text parts")
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type != "text" {
			return "", fmt.Errorf("content part of type %q is not supported; send text", p.Type)
		}
		b.WriteString(p.Text)
	}
	return b.String(), nil
}

// chatInputs turns the last user message into the plan's inputs: the text itself for a plan
// with one string input, its JSON value for one input of another type, and a JSON object of
// inputs for a plan with several.
func chatInputs(p *plans.Plan, text string) (map[string]any, *apiError) {
	switch {
	case len(p.Inputs) == 0:
		return map[string]any{}, nil
	case len(p.Inputs) == 1 && p.Inputs[0].Type == plans.TypeString:
		return map[string]any{p.Inputs[0].Name: text}, nil
	case len(p.Inputs) == 1:
		v, err := decodeJSON(text)
		if err != nil {
			return nil, errInvalid("invalid_input", "messages", fmt.Sprintf(
				"plan %q takes one input, %s: send its JSON value as the last user message", p.Metadata.Name, describeInputs(p)))
		}
		return map[string]any{p.Inputs[0].Name: v}, nil
	}
	v, err := decodeJSON(text)
	obj, ok := v.(map[string]any)
	if err != nil || !ok {
		return nil, errInvalid("invalid_input", "messages", fmt.Sprintf(
			"plan %q takes several inputs, %s: send them as one JSON object in the last user message", p.Metadata.Name, describeInputs(p)))
	}
	return obj, nil
}

func decodeJSON(s string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data")
	}
	return v, nil
}

// renderOutput renders a plan output as message text: strings as they are, numbers exactly as
// the plan produced them, anything else as compact JSON.
func renderOutput(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

type chatChoice struct {
	Index        int       `json:"index"`
	Message      any       `json:"message,omitempty"`
	Delta        any       `json:"delta,omitempty"`
	FinishReason *string   `json:"finish_reason"`
	Logprobs     *struct{} `json:"logprobs"`
}

type chatResponse struct {
	ID                string       `json:"id"`
	Object            string       `json:"object"`
	Created           int64        `json:"created"`
	Model             string       `json:"model"`
	SystemFingerprint string       `json:"system_fingerprint"`
	Choices           []chatChoice `json:"choices"`
	Usage             *usage       `json:"usage"`
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request, c *call) *apiError {
	var req chatRequest
	if err := s.decodeBody(w, r, &req, false); err != nil {
		return err
	}
	if req.Model == "" {
		return errInvalid("missing_required_parameter", "model", "model is required: it names the plan to run (GET /v1/models lists them)")
	}
	n := 1
	if req.N != nil {
		n = *req.N
	}
	if n < 1 || n > s.opts.MaxN {
		return errInvalid("invalid_value", "n", fmt.Sprintf("n must be 1..%d", s.opts.MaxN))
	}
	last := -1
	for i, m := range req.Messages {
		if m.Role == "user" {
			last = i
		}
	}
	if last < 0 {
		return errInvalid("invalid_value", "messages", "messages must hold a user message: the last one becomes the plan's input")
	}
	text, err := req.Messages[last].text()
	if err != nil {
		return errInvalid("invalid_value", fmt.Sprintf("messages[%d].content", last), err.Error())
	}
	// Check the input against the shared plan before building anything for the tenant.
	p := s.plans.Load().byName[req.Model]
	if p == nil || !c.tenant.Grants(req.Model) {
		return errNotFound(req.Model)
	}
	c.plan = req.Model
	inputs, aerr := chatInputs(p, text)
	if aerr != nil {
		return aerr
	}
	prog, digest, aerr := s.program(r.Context(), c, req.Model)
	if aerr != nil {
		return aerr
	}
	res, aerr := s.runs(r.Context(), c, prog, inputs, n)
	if aerr != nil {
		return aerr
	}
	resp := chatResponse{ID: "chatcmpl-" + newID(), Created: time.Now().Unix(), Model: req.Model, SystemFingerprint: digest, Usage: &usage{}}
	texts := make([]string, len(res))
	for i, rr := range res {
		texts[i] = renderOutput(rr.Output)
		resp.Usage.add(rr.Trace)
	}
	resp.Usage.StudentCalls = 0 // not an OpenAI usage field
	stop := "stop"
	if !req.Stream {
		resp.Object = "chat.completion"
		for i, t := range texts {
			resp.Choices = append(resp.Choices, chatChoice{Index: i, Message: map[string]any{"role": "assistant", "content": t, "refusal": nil}, FinishReason: &stop})
		}
		writeJSON(w, http.StatusOK, resp)
		return nil
	}
	// The plan has run to completion: the stream carries each choice's whole text in one
	// chunk, then each choice's finish, then a usage chunk (always: clients ignore it unless they
	// asked with stream_options.include_usage), then [DONE].
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	u := resp.Usage
	resp.Object, resp.Usage = "chat.completion.chunk", nil
	send := func(v chatResponse) {
		b, _ := json.Marshal(v)
		fmt.Fprintf(w, "data: %s\n\n", b)
	}
	for i, t := range texts {
		resp.Choices = []chatChoice{{Index: i, Delta: map[string]any{"role": "assistant", "content": t}}}
		send(resp)
	}
	for i := range texts {
		resp.Choices = []chatChoice{{Index: i, Delta: struct{}{}, FinishReason: &stop}}
		send(resp)
	}
	resp.Choices, resp.Usage = []chatChoice{}, u
	send(resp)
	fmt.Fprint(w, "data: [DONE]\n\n")
	rc.Flush()
	return nil
}
