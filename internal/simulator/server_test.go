package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// startSim starts a simulator for one test and stops it when the test ends.
func startSim(t testing.TB, cfg Config) *Server {
	t.Helper()
	srv, err := Start(context.Background(), "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatalf("start simulator: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close simulator: %v", err)
		}
	})
	return srv
}

func goClient(srv *Server, key string) *openai.Client {
	c := openai.DefaultConfig(key)
	c.BaseURL = srv.URL()
	return openai.NewClientWithConfig(c)
}

func TestGoOpenAIClient(t *testing.T) {
	k := slice(t)
	srv := startSim(t, NewConfig(k, DefaultProfile()).WithSeed(3))
	c := goClient(srv, "unused")
	ctx := context.Background()

	models, err := c.ListModels(ctx)
	if err != nil || len(models.Models) != 1 || models.Models[0].ID != "slm-1.5b" {
		t.Fatalf("ListModels = %+v, %v", models, err)
	}
	if m, err := c.GetModel(ctx, "slm-1.5b"); err != nil || m.ID != "slm-1.5b" {
		t.Fatalf("GetModel = %+v, %v", m, err)
	}

	seed := 5
	req := openai.ChatCompletionRequest{
		Model: "slm-1.5b",
		Messages: []openai.ChatCompletionMessage{
			{Role: openai.ChatMessageRoleSystem, Content: "Solve the math word problem. Respond with only the number."},
			{Role: openai.ChatMessageRoleUser, Content: k.Record(30).Input},
		},
		N: 5, Seed: &seed, Temperature: 0.7,
		//lint:ignore SA1019 the simulator must accept max_tokens, which most clients still send
		MaxTokens: 300,
	}
	resp, err := c.CreateChatCompletion(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Choices) != 5 || resp.Model != "slm-1.5b" || resp.Object != "chat.completion" {
		t.Fatalf("response shape: %+v", resp)
	}
	sum := 0
	for i, ch := range resp.Choices {
		if ch.Index != i || ch.Message.Role != "assistant" || ch.Message.Content == "" || ch.FinishReason != openai.FinishReasonStop {
			t.Fatalf("choice %d: %+v", i, ch)
		}
		sum += tokens(ch.Message.Content)
	}
	if resp.Usage.CompletionTokens != sum || resp.Usage.TotalTokens != resp.Usage.PromptTokens+sum || resp.Usage.PromptTokens <= 0 {
		t.Fatalf("usage %+v, want completion tokens %d", resp.Usage, sum)
	}
	// The wire answers equal the model's own, and the same request gives the same answers.
	again, err := c.CreateChatCompletion(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	for i := range resp.Choices {
		if resp.Choices[i].Message.Content != again.Choices[i].Message.Content {
			t.Fatalf("seeded request not reproducible: %q vs %q", resp.Choices[i].Message.Content, again.Choices[i].Message.Content)
		}
	}

	schemaResp, err := c.CreateChatCompletion(ctx, openai.ChatCompletionRequest{
		Model:    "slm-1.5b",
		Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "Write a Python program for this. " + k.Record(31).Input}},
		ResponseFormat: &openai.ChatCompletionResponseFormat{
			Type: openai.ChatCompletionResponseFormatTypeJSONSchema,
			JSONSchema: &openai.ChatCompletionResponseFormatJSONSchema{
				Name:   "program",
				Schema: json.RawMessage(`{"type":"object","properties":{"program":{"type":"string"}},"required":["program"]}`),
				Strict: true,
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var prog struct{ Program string }
	if err := json.Unmarshal([]byte(schemaResp.Choices[0].Message.Content), &prog); err != nil || !strings.HasPrefix(prog.Program, "def solution():") {
		t.Fatalf("json_schema answer %q: %v", schemaResp.Choices[0].Message.Content, err)
	}
	if strings.Contains(prog.Program, `"""`) {
		t.Fatal("program leaks the original question's docstring")
	}

	short, err := c.CreateChatCompletion(ctx, openai.ChatCompletionRequest{
		Model: "slm-1.5b", MaxCompletionTokens: 4,
		Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "Write a Python program: " + k.Record(32).Input}},
	})
	if err != nil || short.Choices[0].FinishReason != openai.FinishReasonLength || short.Usage.CompletionTokens > 4 {
		t.Fatalf("max_completion_tokens: %+v, %v", short, err)
	}

	_, err = c.CreateChatCompletion(ctx, openai.ChatCompletionRequest{Model: "gpt-4o", Messages: req.Messages})
	var apiErr *openai.APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != 404 || apiErr.Code != "model_not_found" {
		t.Fatalf("unknown model: err = %#v", err)
	}
	_, err = c.CreateChatCompletion(ctx, openai.ChatCompletionRequest{Model: "slm-1.5b", N: 500, Messages: req.Messages})
	if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != 400 || apiErr.Param == nil || *apiErr.Param != "n" || apiErr.Type != "invalid_request_error" {
		t.Fatalf("n=500: err = %#v", err)
	}
}

func TestMalformedRequests(t *testing.T) {
	srv := startSim(t, NewConfig(slice(t), DefaultProfile()).WithMaxBodyBytes(64<<10))
	msgs := `"messages":[{"role":"user","content":"hi"}]`
	tests := []struct {
		name, method, path, body string
		status                   int
		param, code              string
	}{
		{"invalid json", "POST", "/v1/chat/completions", `{"model":`, 400, "", ""},
		{"trailing data", "POST", "/v1/chat/completions", `{"model":"slm-1.5b",` + msgs + `} {}`, 400, "", ""},
		{"array body", "POST", "/v1/chat/completions", `[]`, 400, "", ""},
		{"missing model", "POST", "/v1/chat/completions", `{` + msgs + `}`, 400, "model", ""},
		{"missing messages", "POST", "/v1/chat/completions", `{"model":"slm-1.5b"}`, 400, "messages", ""},
		{"empty messages", "POST", "/v1/chat/completions", `{"model":"slm-1.5b","messages":[]}`, 400, "messages", ""},
		{"messages not array", "POST", "/v1/chat/completions", `{"model":"slm-1.5b","messages":"hi"}`, 400, "messages", ""},
		{"bad role", "POST", "/v1/chat/completions", `{"model":"slm-1.5b","messages":[{"role":"wizard","content":"hi"}]}`, 400, "messages.[0].role", ""},
		{"user without content", "POST", "/v1/chat/completions", `{"model":"slm-1.5b","messages":[{"role":"user"}]}`, 400, "messages.[0].content", ""},
		{"image part", "POST", "/v1/chat/completions", `{"model":"slm-1.5b","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}`, 400, "messages.[0].content.[0].type", ""},
		{"n zero", "POST", "/v1/chat/completions", `{"model":"slm-1.5b",` + msgs + `,"n":0}`, 400, "n", ""},
		{"n string", "POST", "/v1/chat/completions", `{"model":"slm-1.5b",` + msgs + `,"n":"2"}`, 400, "n", ""},
		{"temperature high", "POST", "/v1/chat/completions", `{"model":"slm-1.5b",` + msgs + `,"temperature":2.5}`, 400, "temperature", ""},
		{"seed fractional", "POST", "/v1/chat/completions", `{"model":"slm-1.5b",` + msgs + `,"seed":1.5}`, 400, "seed", ""},
		{"seed too big", "POST", "/v1/chat/completions", `{"model":"slm-1.5b",` + msgs + `,"seed":1e30}`, 400, "seed", ""},
		{"max_tokens zero", "POST", "/v1/chat/completions", `{"model":"slm-1.5b",` + msgs + `,"max_tokens":0}`, 400, "max_tokens", ""},
		{"unknown argument", "POST", "/v1/chat/completions", `{"model":"slm-1.5b",` + msgs + `,"max_token":5}`, 400, "max_token", ""},
		{"stream", "POST", "/v1/chat/completions", `{"model":"slm-1.5b",` + msgs + `,"stream":true}`, 400, "stream", ""},
		{"tools", "POST", "/v1/chat/completions", `{"model":"slm-1.5b",` + msgs + `,"tools":[{"type":"function"}]}`, 400, "tools", ""},
		{"too many stops", "POST", "/v1/chat/completions", `{"model":"slm-1.5b",` + msgs + `,"stop":["a","b","c","d","e"]}`, 400, "stop", ""},
		{"bad response format", "POST", "/v1/chat/completions", `{"model":"slm-1.5b",` + msgs + `,"response_format":{"type":"yaml"}}`, 400, "response_format.type", ""},
		{"json_object without json", "POST", "/v1/chat/completions", `{"model":"slm-1.5b",` + msgs + `,"response_format":{"type":"json_object"}}`, 400, "messages", ""},
		{"json_schema without name", "POST", "/v1/chat/completions", `{"model":"slm-1.5b",` + msgs + `,"response_format":{"type":"json_schema","json_schema":{"schema":{}}}}`, 400, "response_format.json_schema.name", ""},
		{"schema requires undefined", "POST", "/v1/chat/completions", `{"model":"slm-1.5b",` + msgs + `,"response_format":{"type":"json_schema","json_schema":{"name":"a","schema":{"properties":{},"required":["x"]}}}}`, 400, "response_format.json_schema.schema", ""},
		{"unknown model", "POST", "/v1/chat/completions", `{"model":"gpt-4",` + msgs + `}`, 404, "model", "model_not_found"},
		{"body too large", "POST", "/v1/chat/completions", `{"model":"slm-1.5b","messages":[{"role":"user","content":"` + strings.Repeat("a", 70<<10) + `"}]}`, 413, "", "request_too_large"},
		{"wrong method", "GET", "/v1/chat/completions", "", 405, "", "method_not_allowed"},
		{"unknown url", "POST", "/v1/completions", "{}", 404, "", "unknown_url"},
		{"unknown model id", "GET", "/v1/models/nope", "", 404, "model", "model_not_found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, "http://"+srv.Addr()+tc.path, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Error struct {
					Message string  `json:"message"`
					Type    string  `json:"type"`
					Param   *string `json:"param"`
					Code    *string `json:"code"`
				} `json:"error"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("error body is not JSON: %v", err)
			}
			if resp.StatusCode != tc.status || body.Error.Message == "" || body.Error.Type != "invalid_request_error" {
				t.Fatalf("status %d %+v, want %d invalid_request_error", resp.StatusCode, body.Error, tc.status)
			}
			if resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("Content-Type %q", resp.Header.Get("Content-Type"))
			}
			if (tc.param == "") != (body.Error.Param == nil) || (tc.param != "" && *body.Error.Param != tc.param) {
				t.Fatalf("param = %v, want %q (%s)", body.Error.Param, tc.param, body.Error.Message)
			}
			if tc.code != "" && (body.Error.Code == nil || *body.Error.Code != tc.code) {
				t.Fatalf("code = %v, want %q", body.Error.Code, tc.code)
			}
		})
	}
}

func TestAPIKey(t *testing.T) {
	srv := startSim(t, NewConfig(slice(t), DefaultProfile()).WithAPIKey("sk-right"))
	_, err := goClient(srv, "sk-wrong").ListModels(context.Background())
	var apiErr *openai.APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != 401 || apiErr.Code != "invalid_api_key" {
		t.Fatalf("wrong key: err = %#v", err)
	}
	if _, err := goClient(srv, "sk-right").ListModels(context.Background()); err != nil {
		t.Fatalf("right key: %v", err)
	}
	resp, err := http.Get("http://" + srv.Addr() + "/health")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("health needs no key: %v %v", resp, err)
	}
	resp.Body.Close()
}

// TestConcurrentRequestsAreStateless hammers the server from many goroutines and checks that
// every answer equals the answer the same request gets alone: no state leaks between requests.
func TestConcurrentRequestsAreStateless(t *testing.T) {
	k := slice(t)
	srv := startSim(t, NewConfig(k, DefaultProfile()))
	c := goClient(srv, "x")
	const P, N = 8, 25
	prev := runtime.GOMAXPROCS(P / 2)
	defer runtime.GOMAXPROCS(prev)
	ask := func(i int) (string, error) {
		seed := i % 7
		resp, err := c.CreateChatCompletion(context.Background(), openai.ChatCompletionRequest{
			Model: "slm-1.5b", N: 2, Seed: &seed, Temperature: 0.9,
			Messages: []openai.ChatCompletionMessage{{Role: "user", Content: k.Record(i % 40).Input}},
		})
		if err != nil {
			return "", err
		}
		return resp.Choices[0].Message.Content + "\x00" + resp.Choices[1].Message.Content, nil
	}
	want := make([]string, P*N)
	for i := range want {
		var err error
		if want[i], err = ask(i); err != nil {
			t.Fatal(err)
		}
	}
	var wg, ready sync.WaitGroup
	ready.Add(1)
	errs := make(chan error, P*N)
	for p := range P {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ready.Wait()
			for j := range N {
				i := (p*N + j*7) % (P * N)
				got, err := ask(i)
				if err == nil && got != want[i] {
					err = fmt.Errorf("request %d answered %q concurrently, %q alone", i, got, want[i])
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	ready.Done()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestShutdownOnCancel checks that cancelling Start's context stops the server, ends requests
// waiting out simulated latency, and leaves no goroutine behind. (The name matches the
// Makefile's RACE_TESTS: `make test` runs it under -race, the rest of the package without.)
func TestShutdownOnCancel(t *testing.T) {
	k := slice(t)
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	cfg := NewConfig(k, DefaultProfile()).WithLatencyScale(1000) // about a minute a request
	srv, err := Start(ctx, "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	body := `{"model":"slm-1.5b","messages":[{"role":"user","content":"hello there"}]}`
	done := make(chan int, 1)
	go func() {
		resp, err := http.Post(srv.URL()+"/chat/completions", "application/json", strings.NewReader(body))
		if err != nil {
			done <- -1
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	time.Sleep(100 * time.Millisecond) // let the request reach its latency wait
	start := time.Now()
	cancel()
	select {
	case <-srv.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop after its context was cancelled")
	}
	if code := <-done; code != http.StatusServiceUnavailable {
		t.Fatalf("in-flight request ended with %d, want 503", code)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("shutdown took %v", time.Since(start))
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("Close after shutdown: %v", err)
	}
	if _, err := http.Post(srv.URL()+"/chat/completions", "application/json", strings.NewReader(body)); err == nil {
		t.Fatal("server still answers after shutdown")
	}
	http.DefaultClient.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines before, %d after shutdown:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

func TestStartErrors(t *testing.T) {
	if _, err := Start(context.Background(), "127.0.0.1:0", Config{}); err == nil {
		t.Fatal("Start with an empty config succeeded")
	}
	srv := startSim(t, NewConfig(slice(t), DefaultProfile()))
	if _, err := Start(context.Background(), srv.Addr(), NewConfig(slice(t), DefaultProfile())); err == nil {
		t.Fatal("Start on a busy port succeeded")
	}
}

func TestHandlerWithHTTPTestStyleServing(t *testing.T) {
	h, err := NewHandler(NewConfig(slice(t), DefaultProfile()))
	if err != nil {
		t.Fatal(err)
	}
	// A fault-injecting wrapper of the kind other packages' tests can build around the handler.
	var calls int
	var mu sync.Mutex
	flaky := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n == 1 {
			http.Error(w, `{"error":{"message":"overloaded","type":"server_error","param":null,"code":null}}`, http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	})
	rec := &recorder{header: http.Header{}}
	req, _ := http.NewRequest("POST", "/v1/chat/completions", bytes.NewReader([]byte(`{"model":"slm-1.5b","messages":[{"role":"user","content":"hi"}]}`)))
	flaky.ServeHTTP(rec, req)
	if rec.status != 503 {
		t.Fatalf("first call %d, want the injected 503", rec.status)
	}
	rec = &recorder{header: http.Header{}}
	req, _ = http.NewRequest("POST", "/v1/chat/completions", bytes.NewReader([]byte(`{"model":"slm-1.5b","messages":[{"role":"user","content":"hi"}]}`)))
	flaky.ServeHTTP(rec, req)
	if rec.status != 200 || !bytes.Contains(rec.body.Bytes(), []byte(`"chat.completion"`)) {
		t.Fatalf("second call %d %s", rec.status, rec.body.String())
	}
}

type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = 200
	}
	return r.body.Write(b)
}
func (r *recorder) WriteHeader(s int) { r.status = s }

func FuzzParseChatRequest(f *testing.F) {
	f.Add([]byte(`{"model":"slm-1.5b","messages":[{"role":"user","content":"hi"}],"n":2,"seed":3}`))
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"}]}],"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"properties":{"a":{"type":["number","null"]}},"required":["a"]}}}}`))
	f.Add([]byte(`{"model":"m","messages":[{"role":"assistant"}],"stop":"x","max_tokens":1}`))
	f.Add([]byte(`null`))
	k := slice(f)
	m := &Model{k: k, p: DefaultProfile()}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, e := parseChatRequest(body)
		if e != nil {
			if e.status != 400 || e.Message == "" || e.Type != "invalid_request_error" {
				t.Fatalf("bad error %+v", e)
			}
			return
		}
		if req.n < 1 || req.n > maxChoices || req.temperature < 0 || req.temperature > 2 || len(req.messages) == 0 {
			t.Fatalf("accepted an invalid request: %+v", req)
		}
		if req.n > 8 {
			req.n = 8 // keep the fuzzer fast; n is validated above
		}
		g, e := m.generate(req, 1)
		if e != nil {
			return
		}
		for _, c := range g.choices {
			if req.format != "text" && c.finish == "stop" && !json.Valid([]byte(c.text)) && len(req.stops) == 0 {
				t.Fatalf("JSON mode produced %q", c.text)
			}
		}
	})
}
