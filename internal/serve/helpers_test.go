package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sgde-project/sgde/internal/testcache"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/llm"
	"github.com/sgde-project/sgde/sandbox"
	"github.com/sgde-project/sgde/wasm"
)

// Keys of the test tenants (the tenants file holds only their hashes).
const (
	aliceKey = "sk-alice-test-0123456789abcdef"
	bobKey   = "sk-bob-test-0123456789abcdef"
	carolKey = "sk-carol-test-0123456789abcdef"
)

func testTenants(t testing.TB, extra string) *Tenants {
	t.Helper()
	src := fmt.Sprintf(`tenants:
  - name: alice
    keys: [{sha256: %s}]
    plans: [shout, add]
    limits: {fuel: 100000000, memory_mib: 64}
  - name: bob
    keys: [{sha256: "sha256:%s"}]
    plans: ["*"]
    limits: {memory_mib: 16}
  - name: carol
    keys: [{sha256: %s}]
    plans: [shout]
    rate: {requests_per_second: 0.5, burst: 2}
    concurrency: 1
%s`, HashKey(aliceKey), HashKey(bobKey), HashKey(carolKey), extra)
	ts, err := ParseTenants([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

var (
	sandboxOnce    sync.Once
	sandboxBuilder *wasm.Builder
	sandboxErr     error
)

// realFactory returns a runner factory with a real wazero engine per tenant (sharing one on-disk
// compilation cache so that tests do not recompile), and records which tenants it built for.
func realFactory(t testing.TB) (RunnerFactory, *[]string) {
	t.Helper()
	return realFactoryWith(t, nil, nil)
}

// realFactoryWith is realFactory with a student for llm nodes (nil: none) and engines by name
// (nil, or a name it lacks: the metered wazero engine). It records "tenant" for the engine ""
// and "tenant/engine" for the others.
func realFactoryWith(t testing.TB, student llm.Completer, engines map[string]func(context.Context) (sandbox.Engine, error)) (RunnerFactory, *[]string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds WebAssembly with the Go toolchain; skipped with -short")
	}
	sandboxOnce.Do(func() {
		// The production configuration of sgde serve on Linux: reactor builds served from
		// pre-initialised pooled instances by the metered engine.
		var opts []wasm.BuilderOption
		if goruntime.GOOS == "linux" {
			opts = append(opts, wasm.WithReactor())
			precompileNodes(t)
		}
		sandboxBuilder, sandboxErr = wasm.NewBuilder(opts...)
	})
	if sandboxErr != nil {
		t.Skipf("no sandbox: %v", sandboxErr)
	}
	var cmdB *wasm.Builder
	if len(engines) > 0 {
		cmdB = commandBuilder(t)
	}
	var mu sync.Mutex
	var built []string
	return func(ctx context.Context, tenant, engine string) (*runtime.Runner, func(), error) {
		newEngine := engines[engine]
		if newEngine == nil {
			newEngine = func(ctx context.Context) (sandbox.Engine, error) {
				return sandbox.New(ctx, plans.EngineWazero, sandbox.WithCompilationCacheDir(serveWazeroCache()))
			}
		}
		eng, err := newEngine(ctx)
		if err != nil {
			return nil, nil, err
		}
		builder := sandboxBuilder
		if eng.Name() != "wazero" {
			builder = cmdB
		}
		r, err := runtime.New(runtime.Options{Engine: eng, Builder: builder, Student: student, Model: "fake"})
		if err != nil {
			eng.Close(ctx)
			return nil, nil, err
		}
		who := tenant
		if engine != "" {
			who += "/" + engine
		}
		mu.Lock()
		built = append(built, who)
		mu.Unlock()
		return r, func() { eng.Close(context.Background()) }, nil
	}, &built
}

// serveWazeroCache is the compilation cache every test engine shares.
func serveWazeroCache() string { return testcache.Dir("wazero") }

// precompileNodes builds the test plans' code nodes as reactors and compiles their snapshots
// into the shared cache in a process built without -race: under the race detector the
// rewriter, the snapshot and wazero's compiler are an order of magnitude slower, enough for a
// first request on a cold cache to run past the run timeout. The process is this package's own
// test binary (TestPrecompileNodes): wazero keys its cache by the version it reads from the
// binary's build information, which a `go run` of another main package reports differently
// from this test binary. Without -race it does nothing.
func precompileNodes(t testing.TB) {
	if !raceEnabled {
		return
	}
	// Every code node of every test plan, inline or not, as a file: the artefact cache is keyed
	// by source, not by file name.
	files, _ := filepath.Glob("testdata/plans/code/*.go")
	dir := t.TempDir()
	yamls, _ := filepath.Glob("testdata/*/*.yaml")
	for _, y := range yamls {
		p, err := plans.Load(y)
		if err != nil {
			continue // the tests of broken plans load these on purpose
		}
		for _, n := range p.Nodes {
			if n.Code == nil || n.Code.Source == "" {
				continue
			}
			f := filepath.Join(dir, fmt.Sprintf("node%d.go", len(files)))
			if os.WriteFile(f, []byte(n.Code.Source), 0o600) == nil {
				files = append(files, f)
			}
		}
	}
	start := time.Now()
	cmd := exec.Command("go", "test", "-count=1", "-run", "^TestPrecompileNodes$", ".")
	cmd.Env = append(os.Environ(), "GOFLAGS=", "SGDE_SERVE_PRECOMPILE="+strings.Join(files, string(os.PathListSeparator)))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Logf("precompile failed; code nodes compile under -race instead: %v\n%s", err, out)
		return
	}
	t.Logf("precompiled %d code nodes without -race in %v", len(files), time.Since(start).Round(time.Millisecond))
}

// TestPrecompileNodes is precompileNodes' worker, run in a process without -race; it does
// nothing in a normal test run.
func TestPrecompileNodes(t *testing.T) {
	list := os.Getenv("SGDE_SERVE_PRECOMPILE")
	if list == "" {
		t.Skip("the worker of precompileNodes (-race runs only)")
	}
	ctx := context.Background()
	eng, err := sandbox.New(ctx, plans.EngineWazero, sandbox.WithCompilationCacheDir(serveWazeroCache()))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	// Reactors, as served; and commands, which the engine tests run on a second engine.
	for _, opts := range [][]wasm.BuilderOption{{wasm.WithReactor()}, nil} {
		b, err := wasm.NewBuilder(opts...)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range filepath.SplitList(list) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			art, err := b.Build(ctx, src, filepath.Base(f))
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			m, err := eng.Load(ctx, art.Wasm)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			m.Close(ctx)
		}
	}
}

var (
	commandOnce sync.Once
	cmdBuilder  *wasm.Builder
	commandErr  error
)

// commandBuilder builds code nodes as commands, for engines other than the metered wazero one
// (which serves reactors from pooled instances).
func commandBuilder(t testing.TB) *wasm.Builder {
	commandOnce.Do(func() { cmdBuilder, commandErr = wasm.NewBuilder() })
	if commandErr != nil {
		t.Skipf("no sandbox: %v", commandErr)
	}
	return cmdBuilder
}

// noRunner is the factory of tests that must never run a plan.
func noRunner(t testing.TB) RunnerFactory {
	return func(context.Context, string, string) (*runtime.Runner, func(), error) {
		t.Error("a runner was built by a request that should not run a plan")
		return nil, nil, fmt.Errorf("no runner in this test")
	}
}

func newTestServer(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.PlansDir == "" {
		opts.PlansDir = "testdata/plans"
	}
	if opts.Tenants == nil {
		opts.Tenants = testTenants(t, "")
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var v map[string]any
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("response %d is not JSON: %v\n%s", r.status, err, r.body)
	}
	return v
}

// apiErr returns the error object of an OpenAI-shaped error response, failing when the shape is
// wrong.
func (r response) apiErr(t testing.TB) map[string]any {
	t.Helper()
	e, ok := r.json(t)["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error object in %s", r.body)
	}
	for _, k := range []string{"message", "type", "code"} {
		if s, _ := e[k].(string); s == "" {
			t.Errorf("error object lacks %q: %s", k, r.body)
		}
	}
	if _, ok := e["param"]; !ok {
		t.Errorf("error object lacks param: %s", r.body)
	}
	return e
}

func do(t testing.TB, h http.Handler, method, path, key, body string) response {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Result().Body)
	return response{status: rec.Code, header: rec.Result().Header, body: b}
}

func modelIDs(t testing.TB, r response) []string {
	t.Helper()
	var out []string
	for _, m := range r.json(t)["data"].([]any) {
		mm := m.(map[string]any)
		id, _ := mm["id"].(string)
		if id == "" {
			id, _ = mm["name"].(string)
		}
		out = append(out, id)
	}
	return out
}
