package simulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"
)

// apiError is an OpenAI-style error: the HTTP status and the body's error object.
type apiError struct {
	status  int
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func (e *apiError) Error() string { return e.Message }

func strPtr(s string) *string { return &s }

func invalid(param, format string, args ...any) *apiError {
	e := &apiError{status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...), Type: "invalid_request_error"}
	if param != "" {
		e.Param = strPtr(param)
	}
	return e
}

func (e *apiError) withCode(code string) *apiError { e.Code = strPtr(code); return e }

// Limits on one request, beyond the body size: OpenAI's where it has one.
const (
	maxChoices       = 128
	maxStops         = 4
	maxSchemaProps   = 64
	temperatureEps   = 1e-5 // below this, decoding is greedy (vLLM's threshold)
	maxStopBytes     = 1024
	defaultMaxTokens = 4096
)

// chatRequest is a validated chat completion request.
type chatRequest struct {
	model       string
	messages    []message
	n           int
	temperature float64
	seed        *int64
	maxTokens   int // 0: no limit but the context window
	stops       []string
	format      string // "text", "json_object", "json_schema"
	schema      *jsonSchemaShape
}

// Request arguments the simulator accepts and ignores (they do not change what a small model
// says in ways the simulator models). Anything else is an error, as on the OpenAI API, so that a
// client's misspelt parameter is caught rather than silently ignored.
var ignoredArgs = map[string]bool{
	"top_p": true, "frequency_penalty": true, "presence_penalty": true, "logit_bias": true,
	"user": true, "store": true, "metadata": true, "service_tier": true, "stream_options": true,
	"parallel_tool_calls": true, "reasoning_effort": true, "verbosity": true, "safety_identifier": true,
	"chat_template_kwargs": true, "top_k": true, "min_p": true, "repetition_penalty": true,
	"logprobs": true, "top_logprobs": true, "prompt_cache_key": true,
}

func decodeField(raw map[string]json.RawMessage, name string, dst any) *apiError {
	b, ok := raw[name]
	if !ok || string(b) == "null" {
		return nil
	}
	if err := json.Unmarshal(b, dst); err != nil {
		return invalid(name, "Invalid type for '%s': %s", name, typeProblem(err))
	}
	return nil
}

func typeProblem(err error) string {
	if te, ok := err.(*json.UnmarshalTypeError); ok {
		return fmt.Sprintf("expected %s, but got %s", te.Type, te.Value)
	}
	return err.Error()
}

// parseChatRequest decodes and validates a request body.
func parseChatRequest(body []byte) (*chatRequest, *apiError) {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&raw); err != nil || raw == nil {
		return nil, invalid("", "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)")
	}
	if dec.More() {
		return nil, invalid("", "We could not parse the JSON body of your request: trailing data after the JSON object.")
	}
	names := make([]string, 0, len(raw))
	for k := range raw {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		switch k {
		case "model", "messages", "n", "temperature", "seed", "max_tokens", "max_completion_tokens",
			"stop", "response_format", "stream", "tools", "tool_choice", "functions", "function_call":
		default:
			if !ignoredArgs[k] {
				return nil, invalid(k, "Unrecognized request argument supplied: %s", k)
			}
		}
	}
	req := &chatRequest{n: 1, temperature: 1, format: "text"}
	if e := decodeField(raw, "model", &req.model); e != nil {
		return nil, e
	}
	if req.model == "" {
		return nil, invalid("model", "you must provide a model parameter")
	}
	var stream bool
	if e := decodeField(raw, "stream", &stream); e != nil {
		return nil, e
	}
	if stream {
		return nil, invalid("stream", "streaming is not supported by the sgde student simulator; send stream=false")
	}
	for _, k := range []string{"tools", "functions"} {
		var v []json.RawMessage
		if e := decodeField(raw, k, &v); e != nil {
			return nil, e
		}
		if len(v) > 0 {
			return nil, invalid(k, "tool and function calling is not supported by the sgde student simulator")
		}
	}
	msgs, e := parseMessages(raw["messages"])
	if e != nil {
		return nil, e
	}
	req.messages = msgs
	if e := decodeField(raw, "n", &req.n); e != nil {
		return nil, e
	}
	if req.n < 1 || req.n > maxChoices {
		return nil, invalid("n", "%d is not a valid value for 'n' - it must be between 1 and %d", req.n, maxChoices)
	}
	if e := decodeField(raw, "temperature", &req.temperature); e != nil {
		return nil, e
	}
	if !(req.temperature >= 0 && req.temperature <= 2) {
		return nil, invalid("temperature", "%v is greater than the maximum of 2 or less than the minimum of 0 - 'temperature'", req.temperature)
	}
	if b, ok := raw["seed"]; ok && string(b) != "null" {
		var num json.Number
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		if err := d.Decode(&num); err != nil {
			return nil, invalid("seed", "Invalid type for 'seed': expected an integer")
		}
		s, err := num.Int64()
		if err != nil {
			return nil, invalid("seed", "Invalid type for 'seed': expected an integer in the int64 range, got %s", num)
		}
		req.seed = &s
	}
	var maxTokens, maxCompletion int
	if e := decodeField(raw, "max_tokens", &maxTokens); e != nil {
		return nil, e
	}
	if e := decodeField(raw, "max_completion_tokens", &maxCompletion); e != nil {
		return nil, e
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"max_tokens", maxTokens}, {"max_completion_tokens", maxCompletion}} {
		name, v := f.name, f.v
		if _, ok := raw[name]; ok && string(raw[name]) != "null" && v < 1 {
			return nil, invalid(name, "Invalid '%s': integer below minimum value. Expected a value >= 1, but got %d instead.", name, v)
		}
	}
	req.maxTokens = maxTokens
	if maxCompletion > 0 && (req.maxTokens == 0 || maxCompletion < req.maxTokens) {
		req.maxTokens = maxCompletion
	}
	if stops, e := parseStop(raw["stop"]); e != nil {
		return nil, e
	} else {
		req.stops = stops
	}
	if e := parseResponseFormat(raw["response_format"], req); e != nil {
		return nil, e
	}
	return req, nil
}

func parseMessages(b json.RawMessage) ([]message, *apiError) {
	if len(b) == 0 || string(b) == "null" {
		return nil, invalid("messages", "Missing required parameter: 'messages'.")
	}
	var raws []map[string]json.RawMessage
	if err := json.Unmarshal(b, &raws); err != nil {
		return nil, invalid("messages", "Invalid type for 'messages': expected an array of objects")
	}
	if len(raws) == 0 {
		return nil, invalid("messages", "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.")
	}
	msgs := make([]message, 0, len(raws))
	for i, m := range raws {
		param := fmt.Sprintf("messages.[%d]", i)
		if m == nil {
			return nil, invalid(param, "Invalid type for '%s': expected an object, but got null instead.", param)
		}
		var role string
		if err := json.Unmarshal(m["role"], &role); err != nil || role == "" {
			return nil, invalid(param+".role", "Missing required parameter: '%s.role'.", param)
		}
		switch role {
		case "system", "developer", "user", "assistant", "tool", "function":
		default:
			return nil, invalid(param+".role", "Invalid value: '%s'. Supported values are: 'system', 'developer', 'user', 'assistant', 'tool' and 'function'.", role)
		}
		content, e := parseContent(m["content"], param+".content")
		if e != nil {
			return nil, e
		}
		if content == nil {
			if role != "assistant" {
				return nil, invalid(param+".content", "Missing required parameter: '%s.content'.", param)
			}
			content = new(string)
		}
		msgs = append(msgs, message{role: role, content: *content})
	}
	return msgs, nil
}

// parseContent accepts a string or an array of text parts; nil means absent.
func parseContent(b json.RawMessage, param string) (*string, *apiError) {
	if len(b) == 0 || string(b) == "null" {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		return &s, nil
	}
	var parts []struct {
		Type string  `json:"type"`
		Text *string `json:"text"`
	}
	if err := json.Unmarshal(b, &parts); err != nil {
		return nil, invalid(param, "Invalid type for '%s': expected one of a string or array of objects", param)
	}
	var sb strings.Builder
	for i, p := range parts {
		if p.Type != "text" {
			return nil, invalid(fmt.Sprintf("%s.[%d].type", param, i), "content part type %q is not supported by the sgde student simulator (text only)", p.Type)
		}
		if p.Text == nil {
			return nil, invalid(fmt.Sprintf("%s.[%d].text", param, i), "Missing required parameter: '%s.[%d].text'.", param, i)
		}
		if i > 0 {
			sb.WriteByte('\n')
		}
		sb.WriteString(*p.Text)
	}
	out := sb.String()
	return &out, nil
}

func parseStop(b json.RawMessage) ([]string, *apiError) {
	if len(b) == 0 || string(b) == "null" {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		b, _ = json.Marshal([]string{one})
	}
	var stops []string
	if err := json.Unmarshal(b, &stops); err != nil {
		return nil, invalid("stop", "Invalid type for 'stop': expected one of a string or array of strings")
	}
	if len(stops) > maxStops {
		return nil, invalid("stop", "Invalid 'stop': array too long. Expected an array with maximum length %d, but got an array with length %d instead.", maxStops, len(stops))
	}
	out := stops[:0]
	for _, s := range stops {
		if len(s) > maxStopBytes {
			return nil, invalid("stop", "Invalid 'stop': each stop sequence must be at most %d bytes", maxStopBytes)
		}
		if s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}

// jsonSchemaShape is the part of a response_format JSON schema the simulator honours: the
// top-level properties with their types, and which are required.
type jsonSchemaShape struct {
	props    map[string]string
	order    []string // property names in a stable order
	required []string
}

func parseResponseFormat(b json.RawMessage, req *chatRequest) *apiError {
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	var rf struct {
		Type       string `json:"type"`
		JSONSchema *struct {
			Name   string          `json:"name"`
			Schema json.RawMessage `json:"schema"`
		} `json:"json_schema"`
	}
	if err := json.Unmarshal(b, &rf); err != nil {
		return invalid("response_format", "Invalid type for 'response_format': %s", typeProblem(err))
	}
	switch rf.Type {
	case "text", "json_object":
		req.format = rf.Type
	case "json_schema":
		req.format = rf.Type
		if rf.JSONSchema == nil {
			return invalid("response_format.json_schema", "Missing required parameter: 'response_format.json_schema'.")
		}
		if rf.JSONSchema.Name == "" {
			return invalid("response_format.json_schema.name", "Missing required parameter: 'response_format.json_schema.name'.")
		}
		shape, e := parseSchema(rf.JSONSchema.Schema)
		if e != nil {
			return e
		}
		req.schema = shape
	default:
		return invalid("response_format.type", "Invalid value: '%s'. Supported values are: 'json_object', 'json_schema', and 'text'.", rf.Type)
	}
	return nil
}

func parseSchema(b json.RawMessage) (*jsonSchemaShape, *apiError) {
	if len(b) == 0 || string(b) == "null" {
		return &jsonSchemaShape{}, nil
	}
	var s struct {
		Type       any                        `json:"type"`
		Properties map[string]json.RawMessage `json:"properties"`
		Required   []string                   `json:"required"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, invalid("response_format.json_schema.schema", "Invalid schema: %s", typeProblem(err))
	}
	if len(s.Properties) > maxSchemaProps {
		return nil, invalid("response_format.json_schema.schema", "Invalid schema: more than %d top-level properties", maxSchemaProps)
	}
	shape := &jsonSchemaShape{props: map[string]string{}}
	for name, p := range s.Properties {
		var pt struct {
			Type any `json:"type"`
		}
		_ = json.Unmarshal(p, &pt)
		typ := "string"
		switch t := pt.Type.(type) {
		case string:
			typ = t
		case []any: // e.g. ["number", "null"]: the first non-null type
			for _, x := range t {
				if xs, ok := x.(string); ok && xs != "null" {
					typ = xs
					break
				}
			}
		}
		shape.props[name] = typ
		shape.order = append(shape.order, name)
	}
	sort.Strings(shape.order)
	for _, r := range s.Required {
		if _, ok := shape.props[r]; !ok {
			return nil, invalid("response_format.json_schema.schema", "Invalid schema: required property %q is not defined in properties", r)
		}
	}
	shape.required = s.Required
	return shape, nil
}

// answerKey is the property that carries the answer: a required property with a telling name,
// else the first required (or any) property of a fitting type.
func (s *jsonSchemaShape) answerKey(task taskKind) string {
	names := []string{"answer", "final_answer", "result", "value", "number", "solution"}
	fits := func(typ string) bool { return typ == "number" || typ == "integer" || typ == "string" }
	if task == taskProgram {
		names = []string{"program", "code", "solution", "python", "source"}
		fits = func(typ string) bool { return typ == "string" }
	}
	for _, pool := range [][]string{s.required, s.order} {
		for _, want := range names {
			for _, p := range pool {
				if strings.EqualFold(p, want) && fits(s.props[p]) {
					return p
				}
			}
		}
	}
	for _, pool := range [][]string{s.required, s.order} {
		for _, p := range pool {
			if fits(s.props[p]) && (task == taskProgram || s.props[p] != "string") {
				return p
			}
		}
	}
	return ""
}

// fill lists the properties the answer object carries: the required ones (all of them when none
// is required).
func (s *jsonSchemaShape) fill() []string {
	if len(s.required) > 0 {
		return s.required
	}
	return s.order
}

// finite reports whether v is an ordinary number.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
