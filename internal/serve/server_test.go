package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
)

func TestAuthAndGrants(t *testing.T) {
	s := newTestServer(t, Options{NewRunner: noRunner(t)})
	h := s.Handler()
	for _, tt := range []struct {
		name, method, path, key, body string
		status                        int
		code                          string
	}{
		{"no key", "GET", "/v1/models", "", "", 401, "invalid_api_key"},
		{"wrong key", "GET", "/v1/models", "sk-wrong", "", 401, "invalid_api_key"},
		{"hash as key", "GET", "/v1/models", HashKey(aliceKey), "", 401, "invalid_api_key"},
		{"wrong key on run", "POST", "/v1/plans/shout/run", "sk-wrong", `{"inputs":{"text":"x"}}`, 401, "invalid_api_key"},
		{"plan of another tenant", "POST", "/v1/plans/bob-secret/run", aliceKey, `{"inputs":{"text":"x"}}`, 404, "model_not_found"},
		{"unknown plan", "POST", "/v1/plans/nope/run", aliceKey, `{"inputs":{"text":"x"}}`, 404, "model_not_found"},
		{"chat with another tenant's plan", "POST", "/v1/chat/completions", aliceKey, `{"model":"bob-secret","messages":[{"role":"user","content":"x"}]}`, 404, "model_not_found"},
		{"model of another tenant", "GET", "/v1/models/bob-secret", aliceKey, "", 404, "model_not_found"},
		{"unknown url", "GET", "/v1/embeddings", aliceKey, "", 404, "unknown_url"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, h, tt.method, tt.path, tt.key, tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if got := r.apiErr(t)["code"]; got != tt.code {
				t.Errorf("code %v, want %s", got, tt.code)
			}
			if strings.Contains(string(r.body), "Bob's private") {
				t.Errorf("response leaks another tenant's plan: %s", r.body)
			}
		})
	}
	// A plan that exists for someone else and one that exists for nobody look the same.
	a := do(t, h, "POST", "/v1/plans/bob-secret/run", aliceKey, `{"inputs":{}}`).apiErr(t)["message"].(string)
	b := do(t, h, "POST", "/v1/plans/zzzzzzzzzz/run", aliceKey, `{"inputs":{}}`).apiErr(t)["message"].(string)
	if strings.ReplaceAll(a, "bob-secret", "X") != strings.ReplaceAll(b, "zzzzzzzzzz", "X") {
		t.Errorf("404s differ between a hidden and a missing plan: %q vs %q", a, b)
	}
	// Listings show only granted plans.
	for key, want := range map[string]string{aliceKey: "add,shout", bobKey: "add,bob-secret,shout", carolKey: "shout"} {
		for _, path := range []string{"/v1/models", "/v1/plans"} {
			r := do(t, h, "GET", path, key, "")
			if got := strings.Join(modelIDs(t, r), ","); got != want {
				t.Errorf("%s for %s = %s, want %s", path, key[:8], got, want)
			}
		}
	}
	if r := do(t, h, "GET", "/v1/models/shout", bobKey, ""); r.status != 200 || r.json(t)["id"] != "shout" {
		t.Errorf("GET /v1/models/shout: %d %s", r.status, r.body)
	}
}

func TestRateQuota(t *testing.T) {
	s := newTestServer(t, Options{NewRunner: noRunner(t)})
	h := s.Handler()
	// carol: 0.5 requests/s, burst 2.
	for i := range 2 {
		if r := do(t, h, "GET", "/v1/models", carolKey, ""); r.status != 200 {
			t.Fatalf("request %d within the burst: %d %s", i, r.status, r.body)
		}
	}
	r := do(t, h, "GET", "/v1/models", carolKey, "")
	if r.status != 429 || r.apiErr(t)["code"] != "rate_limit_exceeded" {
		t.Fatalf("over the rate: %d %s", r.status, r.body)
	}
	if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 1 || ra > 2 {
		t.Errorf("Retry-After %q, want 1..2 seconds at 0.5/s", r.header.Get("Retry-After"))
	}
	// Another tenant is not affected.
	if r := do(t, h, "GET", "/v1/models", aliceKey, ""); r.status != 200 {
		t.Errorf("alice throttled by carol's quota: %d", r.status)
	}
}

func TestConcurrencyQuota(t *testing.T) {
	s := newTestServer(t, Options{NewRunner: noRunner(t)})
	carol := s.opts.Tenants.Authenticate(carolKey)
	st := s.states[carol]
	release, ok, err := s.quotas.Acquire(t.Context(), carol) // carol's only slot is now busy
	if !ok || err != nil {
		t.Fatalf("cannot take carol's slot: %v", err)
	}
	defer release()
	// program() would build a runner before runs() is reached; give carol a prepared program.
	ps := s.plans.Load()
	st.gen, st.progs = ps, map[string]*runtime.Program{"shout": {}}
	r := do(t, s.Handler(), "POST", "/v1/plans/shout/run", carolKey, `{"inputs":{"text":"x"}}`)
	if r.status != 429 || r.apiErr(t)["code"] != "concurrency_limit_exceeded" || r.header.Get("Retry-After") == "" {
		t.Fatalf("over the concurrency quota: %d %v %s", r.status, r.header, r.body)
	}
}

func TestBadRequests(t *testing.T) {
	s := newTestServer(t, Options{NewRunner: noRunner(t), MaxBodyBytes: 256, MaxN: 4})
	h := s.Handler()
	big := `{"inputs":{"text":"` + strings.Repeat("x", 300) + `"}}`
	user := func(content string) string {
		return `{"model":"shout","messages":[{"role":"user","content":` + content + `}]}`
	}
	for _, tt := range []struct {
		name, path, body string
		status           int
		code, param      string
	}{
		{"body too large", "/v1/plans/shout/run", big, 413, "request_too_large", ""},
		{"chat body too large", "/v1/chat/completions", user(strconv.Quote(strings.Repeat("y", 300))), 413, "request_too_large", ""},
		{"malformed json", "/v1/plans/shout/run", `{"inputs":`, 400, "invalid_json", ""},
		{"empty body", "/v1/plans/shout/run", ``, 400, "invalid_json", ""},
		{"trailing data", "/v1/plans/shout/run", `{"inputs":{}} {}`, 400, "invalid_json", ""},
		{"unknown field", "/v1/plans/shout/run", `{"input":{"text":"x"}}`, 400, "invalid_json", ""},
		{"inputs not an object", "/v1/plans/shout/run", `{"inputs":[1]}`, 400, "invalid_json", ""},
		{"no inputs", "/v1/plans/shout/run", `{}`, 400, "invalid_input", "inputs"},
		{"array body", "/v1/chat/completions", `[1,2]`, 400, "invalid_json", ""},
		{"no model", "/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}]}`, 400, "missing_required_parameter", "model"},
		{"model wrong type", "/v1/chat/completions", `{"model":7,"messages":[]}`, 400, "invalid_json", ""},
		{"n too big", "/v1/chat/completions", `{"model":"shout","n":5,"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_value", "n"},
		{"n zero", "/v1/chat/completions", `{"model":"shout","n":0,"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_value", "n"},
		{"n not a number", "/v1/chat/completions", `{"model":"shout","n":"2","messages":[{"role":"user","content":"x"}]}`, 400, "invalid_json", ""},
		{"no user message", "/v1/chat/completions", `{"model":"shout","messages":[{"role":"system","content":"x"}]}`, 400, "invalid_value", "messages"},
		{"image content", "/v1/chat/completions", user(`[{"type":"image_url","image_url":{"url":"http://x"}}]`), 400, "invalid_value", "messages[0].content"},
		{"null content", "/v1/chat/completions", user(`null`), 400, "invalid_value", "messages[0].content"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, h, "POST", tt.path, aliceKey, tt.body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			e := r.apiErr(t)
			if e["code"] != tt.code {
				t.Errorf("code %v, want %s", e["code"], tt.code)
			}
			if tt.param != "" && e["param"] != tt.param {
				t.Errorf("param %v, want %s", e["param"], tt.param)
			}
		})
	}
}

func TestChatInputs(t *testing.T) {
	one := &plans.Plan{Metadata: plans.Metadata{Name: "p"}, Inputs: []plans.Input{{Name: "q", Type: plans.TypeString}}}
	num := &plans.Plan{Metadata: plans.Metadata{Name: "p"}, Inputs: []plans.Input{{Name: "x", Type: plans.TypeNumber}}}
	two := &plans.Plan{Metadata: plans.Metadata{Name: "p"}, Inputs: []plans.Input{{Name: "a", Type: plans.TypeNumber}, {Name: "b", Type: plans.TypeString}}}
	for _, tt := range []struct {
		p    *plans.Plan
		text string
		want string // JSON of the inputs, or "error: SUBSTRING"
	}{
		{one, `{"not": "parsed"}`, `{"q":"{\"not\": \"parsed\"}"}`},
		{num, `12.50`, `{"x":12.50}`},
		{num, `twelve`, `error: x (number)`},
		{two, `{"a": 1, "b": "c"}`, `{"a":1,"b":"c"}`},
		{two, `a=1`, `error: a (number), b (string)`},
		{two, `[1, "c"]`, `error: JSON object`},
	} {
		got, err := chatInputs(tt.p, tt.text)
		if err != nil {
			if !strings.HasPrefix(tt.want, "error: ") || !strings.Contains(err.Message, strings.TrimPrefix(tt.want, "error: ")) {
				t.Errorf("chatInputs(%q): %v, want %s", tt.text, err.Message, tt.want)
			}
			continue
		}
		b, _ := json.Marshal(got)
		if string(b) != tt.want {
			t.Errorf("chatInputs(%q) = %s, want %s", tt.text, b, tt.want)
		}
	}
}

func TestRenderOutput(t *testing.T) {
	for _, tt := range []struct {
		v    any
		want string
	}{
		{"a <b>", "a <b>"}, {json.Number("1e400"), "1e400"}, {json.Number("0.1"), "0.1"}, {3.5, "3.5"},
		{map[string]any{"k": "<v>"}, `{"k":"<v>"}`}, {nil, "null"}, {true, "true"},
	} {
		if got := renderOutput(tt.v); got != tt.want {
			t.Errorf("renderOutput(%#v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func TestClampPlan(t *testing.T) {
	p, err := plans.Load("testdata/plans/secret.yaml") // memory_mib 32, default fuel
	if err != nil {
		t.Fatal(err)
	}
	fuel, mem := uint64(5000), uint32(16)
	cp, err := clampPlan(p, &fuel, &mem)
	if err != nil {
		t.Fatal(err)
	}
	l := cp.Nodes[0].Code.Limits
	if *l.Fuel != 5000 || *l.MemoryMiB != 16 {
		t.Errorf("clamped limits fuel %d memory %d, want 5000 and 16", *l.Fuel, *l.MemoryMiB)
	}
	if p.Nodes[0].Code.Limits.Fuel != nil || *p.Nodes[0].Code.Limits.MemoryMiB != 32 {
		t.Error("clampPlan changed the shared plan")
	}
	big := uint32(1024)
	cp, err = clampPlan(p, nil, &big)
	if err != nil {
		t.Fatal(err)
	}
	if l := cp.Nodes[0].Code.Limits; *l.MemoryMiB != 32 || l.Fuel != nil {
		t.Errorf("a ceiling above the plan's limit changed it: %+v", l)
	}
	if cp.Nodes[0].Code.SourceText() != p.Nodes[0].Code.SourceText() {
		t.Error("the copy runs different code")
	}
}

func TestReload(t *testing.T) {
	dir := t.TempDir()
	copyPlan := func(name string) {
		b, err := os.ReadFile(filepath.Join("testdata/plans", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.CopyFS(filepath.Join(dir, "code"), os.DirFS("testdata/plans/code")); err != nil {
		t.Fatal(err)
	}
	copyPlan("shout.yaml")
	s := newTestServer(t, Options{PlansDir: dir, NewRunner: noRunner(t)})
	h := s.Handler()
	models := func() string { return strings.Join(modelIDs(t, do(t, h, "GET", "/v1/models", bobKey, "")), ",") }
	if got := models(); got != "shout" {
		t.Fatalf("models %s", got)
	}
	copyPlan("add.yaml")
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := models(); got != "add,shout" {
		t.Fatalf("after reload: %s", got)
	}
	// A broken plan keeps the old set; so does a duplicate name.
	os.WriteFile(filepath.Join(dir, "broken.yaml"), []byte("apiVersion: sgde/v1\nkind: Plan\n"), 0o644)
	if err := s.Reload(); err == nil || !strings.Contains(err.Error(), "broken.yaml") {
		t.Fatalf("reload with a broken plan: %v", err)
	}
	os.Remove(filepath.Join(dir, "broken.yaml"))
	b, _ := os.ReadFile(filepath.Join(dir, "add.yaml"))
	os.WriteFile(filepath.Join(dir, "add-again.yaml"), b, 0o644)
	if err := s.Reload(); err == nil || !strings.Contains(err.Error(), "already defined") {
		t.Fatalf("reload with a duplicate plan: %v", err)
	}
	if got := models(); got != "add,shout" {
		t.Fatalf("a failed reload changed the plans: %s", got)
	}
	os.Remove(filepath.Join(dir, "add-again.yaml"))
	os.Remove(filepath.Join(dir, "add.yaml"))
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if r := do(t, h, "POST", "/v1/plans/add/run", bobKey, `{"inputs":{"a":1,"b":2}}`); r.status != 404 {
		t.Errorf("a removed plan still runs: %d", r.status)
	}
	m := do(t, h, "GET", "/metrics", "", "")
	for _, want := range []string{`sgde_serve_reloads_total{result="error"} 2`, `sgde_serve_reloads_total{result="ok"} 2`, `sgde_serve_plans_loaded 1`} {
		if !strings.Contains(string(m.body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestRunAndChat(t *testing.T) {
	factory, built := realFactory(t)
	s := newTestServer(t, Options{NewRunner: factory})
	h := s.Handler()

	r := do(t, h, "POST", "/v1/plans/add/run", aliceKey, `{"inputs":{"a":2,"b":3.25},"trace":true}`)
	if r.status != 200 {
		t.Fatalf("run: %d %s", r.status, r.body)
	}
	v := r.json(t)
	if v["output"] != json.Number("5.25") || !strings.HasPrefix(v["digest"].(string), "sha256:") {
		t.Errorf("run output %s", r.body)
	}
	if tr, ok := v["trace"].(map[string]any); !ok || tr["plan"] != "add" {
		t.Errorf("trace missing: %s", r.body)
	}
	// Wrong types are the caller's mistake.
	r = do(t, h, "POST", "/v1/plans/add/run", aliceKey, `{"inputs":{"a":"two","b":3}}`)
	if r.status != 400 || r.apiErr(t)["code"] != runtime.KindInput {
		t.Errorf("mistyped input: %d %s", r.status, r.body)
	}
	r = do(t, h, "POST", "/v1/plans/add/run", aliceKey, `{"inputs":{"a":1}}`)
	if r.status != 400 || r.apiErr(t)["code"] != runtime.KindInput {
		t.Errorf("missing input: %d %s", r.status, r.body)
	}
	// Chat: the last user message is the plan's string input.
	r = do(t, h, "POST", "/v1/chat/completions", aliceKey,
		`{"model":"shout","n":3,"temperature":0.2,"messages":[{"role":"system","content":"ignored"},{"role":"user","content":"first"},{"role":"assistant","content":"x"},{"role":"user","content":[{"type":"text","text":"héllo "},{"type":"text","text":"world"}]}]}`)
	if r.status != 200 {
		t.Fatalf("chat: %d %s", r.status, r.body)
	}
	var cr struct {
		Object  string `json:"object"`
		Model   string `json:"model"`
		Choices []struct {
			Index   int `json:"index"`
			Message struct{ Role, Content string }
			Finish  string `json:"finish_reason"`
		}
		Usage *struct {
			Total *int `json:"total_tokens"`
		}
	}
	if err := json.Unmarshal(r.body, &cr); err != nil {
		t.Fatal(err)
	}
	if cr.Object != "chat.completion" || cr.Model != "shout" || len(cr.Choices) != 3 || cr.Usage == nil || cr.Usage.Total == nil {
		t.Fatalf("chat response shape: %s", r.body)
	}
	for i, c := range cr.Choices {
		if c.Index != i || c.Message.Role != "assistant" || c.Message.Content != "HÉLLO WORLD!" || c.Finish != "stop" {
			t.Errorf("choice %d: %+v", i, c)
		}
	}
	// Multi-input plan through chat: a JSON object.
	r = do(t, h, "POST", "/v1/chat/completions", aliceKey, `{"model":"add","messages":[{"role":"user","content":"{\"a\": 40, \"b\": 2}"}]}`)
	if r.status != 200 || !strings.Contains(string(r.body), `"content":"42"`) {
		t.Errorf("chat on add: %d %s", r.status, r.body)
	}
	// Streaming.
	r = do(t, h, "POST", "/v1/chat/completions", aliceKey, `{"model":"shout","stream":true,"n":2,"messages":[{"role":"user","content":"hi"}]}`)
	if r.status != 200 || r.header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %v", r.status, r.header)
	}
	checkStream(t, r.body, 2, "HI!")

	// bob runs the same plan on his own runner.
	if r := do(t, h, "POST", "/v1/chat/completions", bobKey, `{"model":"shout","messages":[{"role":"user","content":"b"}]}`); r.status != 200 {
		t.Fatalf("bob: %d %s", r.status, r.body)
	}
	if got := strings.Join(*built, ","); got != "alice,bob" {
		t.Errorf("runners built for %s, want one for alice then one for bob", got)
	}
	alice, bob := s.states[s.opts.Tenants.Authenticate(aliceKey)], s.states[s.opts.Tenants.Authenticate(bobKey)]
	if len(alice.runners) != 1 || len(bob.runners) != 1 || alice.runners[""].r == bob.runners[""].r || alice.progs["shout"] == bob.progs["shout"] || alice.progs["shout"].Plan() == bob.progs["shout"].Plan() {
		t.Error("tenants share a runner, program or plan")
	}
	if mem := bob.progs["shout"].Plan().Nodes[0].Code.Limits.MemoryMiB; mem == nil || *mem != 16 {
		t.Errorf("bob's ceiling (16 MiB) not applied: %v", mem)
	}

	m := string(do(t, h, "GET", "/metrics", "", "").body)
	for _, want := range []string{
		`sgde_serve_requests_total{endpoint="chat",plan="shout",status="200",tenant="alice"} 2`,
		`sgde_serve_requests_total{endpoint="run",plan="add",status="400",tenant="alice"} 2`,
		`sgde_serve_code_calls_total{plan="shout",tenant="alice"} 5`,
		`sgde_serve_request_duration_seconds_bucket{endpoint="run",plan="add",tenant="alice",le="60"} 3`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// checkStream checks the SSE shape: n content chunks, n finish chunks, one usage chunk with no
// choices, then [DONE], nothing after.
func checkStream(t *testing.T, body []byte, n int, text string) {
	t.Helper()
	var events []string
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		if line := sc.Text(); line != "" {
			data, ok := strings.CutPrefix(line, "data: ")
			if !ok {
				t.Fatalf("not an SSE data line: %q", line)
			}
			events = append(events, data)
		}
	}
	if len(events) != 2*n+2 || events[len(events)-1] != "[DONE]" {
		t.Fatalf("stream has %d events, want %d ending in [DONE]:\n%s", len(events), 2*n+2, body)
	}
	id := ""
	for i, e := range events[:len(events)-1] {
		var ch struct {
			ID      string `json:"id"`
			Object  string `json:"object"`
			Choices []struct {
				Index  int               `json:"index"`
				Delta  map[string]string `json:"delta"`
				Finish *string           `json:"finish_reason"`
			}
			Usage *struct {
				Total *int `json:"total_tokens"`
			}
		}
		if err := json.Unmarshal([]byte(e), &ch); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if id == "" {
			id = ch.ID
		}
		if ch.ID != id || ch.Object != "chat.completion.chunk" {
			t.Errorf("event %d: id %q object %q", i, ch.ID, ch.Object)
		}
		switch {
		case i < n:
			if len(ch.Choices) != 1 || ch.Choices[0].Index != i || ch.Choices[0].Delta["content"] != text || ch.Choices[0].Finish != nil || ch.Usage != nil {
				t.Errorf("content event %d: %s", i, e)
			}
		case i < 2*n:
			if len(ch.Choices) != 1 || ch.Choices[0].Finish == nil || *ch.Choices[0].Finish != "stop" || ch.Choices[0].Delta["content"] != "" {
				t.Errorf("finish event %d: %s", i, e)
			}
		default:
			if len(ch.Choices) != 0 || ch.Usage == nil || ch.Usage.Total == nil {
				t.Errorf("usage event: %s", e)
			}
		}
	}
}

// TestGracefulShutdown cancels Serve while a request is in flight: the request still gets its
// answer, readiness drops on both listeners while metrics stay readable on the operations
// listener, and then both listeners refuse new connections.
func TestGracefulShutdown(t *testing.T) {
	factory, _ := realFactory(t)
	entered, proceed := make(chan struct{}), make(chan struct{})
	var once sync.Once
	slow := func(ctx context.Context, tenant, engine string) (*runtime.Runner, func(), error) {
		once.Do(func() { close(entered) })
		<-proceed
		return factory(ctx, tenant, engine)
	}
	s := newTestServer(t, Options{NewRunner: slow, DrainTimeout: time.Minute, SeparateOps: true})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base, opsBase := "http://"+ln.Addr().String(), "http://"+opsLn.Addr().String()
	get := func(url string) int {
		resp, err := http.Get(url)
		if err != nil {
			t.Errorf("GET %s: %v", url, err)
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.ServeWithOps(ctx, ln, opsLn) }()

	type result struct {
		status int
		body   string
		err    error
	}
	res := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("POST", base+"/v1/plans/shout/run", strings.NewReader(`{"inputs":{"text":"drain"}}`))
		req.Header.Set("Authorization", "Bearer "+aliceKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			res <- result{err: err}
			return
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		res <- result{status: resp.StatusCode, body: b.String()}
	}()
	<-entered
	cancel()
	deadline := time.Now().Add(10 * time.Second)
	for s.closing.Load() == false && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if r := do(t, s.Handler(), "GET", "/readyz", "", ""); r.status != 503 {
		t.Errorf("readyz while draining: %d", r.status)
	}
	if r := do(t, s.Handler(), "GET", "/healthz", "", ""); r.status != 200 {
		t.Errorf("healthz while draining: %d", r.status)
	}
	if got := get(opsBase + "/readyz"); got != 503 {
		t.Errorf("readyz on the operations listener while draining: %d", got)
	}
	if got := get(opsBase + "/metrics"); got != 200 {
		t.Errorf("metrics on the operations listener while draining: %d", got)
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned with a request in flight: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(proceed)
	r := <-res
	if r.err != nil || r.status != 200 || !strings.Contains(r.body, `"output":"DRAIN!"`) {
		t.Fatalf("in-flight request: %+v", r)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	for _, l := range []net.Listener{ln, opsLn} {
		if _, err := net.DialTimeout("tcp", l.Addr().String(), time.Second); err == nil {
			t.Errorf("listener %s still accepts connections after shutdown", l.Addr())
		}
	}
}

// TestOpsListener checks where /metrics is served: on the API handler by default, and only on
// the operations handler with SeparateOps, where the API answers the OpenAI-shaped 404 of any
// unknown URL; the probes are on both.
func TestOpsListener(t *testing.T) {
	for _, separate := range []bool{false, true} {
		s := newTestServer(t, Options{NewRunner: noRunner(t), SeparateOps: separate})
		do(t, s.Handler(), "GET", "/v1/models", aliceKey, "")
		want := `sgde_serve_requests_total{endpoint="models",plan="-",status="200",tenant="alice"} 1`
		for _, h := range []struct {
			name    string
			h       http.Handler
			metrics bool
		}{{"api", s.Handler(), !separate}, {"ops", s.OpsHandler(), true}} {
			for _, probe := range []string{"/healthz", "/readyz"} {
				if r := do(t, h.h, "GET", probe, "", ""); r.status != 200 {
					t.Errorf("separate=%v %s %s: %d", separate, h.name, probe, r.status)
				}
			}
			r := do(t, h.h, "GET", "/metrics", "", "")
			if h.metrics {
				if r.status != 200 || !strings.Contains(string(r.body), want) {
					t.Errorf("separate=%v %s /metrics: %d, want 200 with %s", separate, h.name, r.status, want)
				}
				continue
			}
			if r.status != 404 || r.apiErr(t)["code"] != "unknown_url" || strings.Contains(string(r.body), "alice") {
				t.Errorf("separate=%v %s /metrics: %d %s, want the unknown_url 404", separate, h.name, r.status, r.body)
			}
		}
		// The operations handler serves nothing of the API, even with a key.
		if r := do(t, s.OpsHandler(), "GET", "/v1/models", aliceKey, ""); r.status != 404 || r.apiErr(t)["code"] != "unknown_url" {
			t.Errorf("separate=%v ops /v1/models: %d %s", separate, r.status, r.body)
		}
		if r := do(t, s.Handler(), "GET", "/nope", "", ""); r.status != 404 || r.apiErr(t)["code"] != "unknown_url" {
			t.Errorf("separate=%v api /nope: %d %s", separate, r.status, r.body)
		}
	}
}
