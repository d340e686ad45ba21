package serve

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/sandbox"
)

// renamedEngine is an engine under another name.
type renamedEngine struct {
	sandbox.Engine
	name string
}

func (e renamedEngine) Name() plans.EngineName { return plans.EngineName(e.name) }

// newTestWasmtime starts the engine that serves plans asking for wasmtime: in builds without
// the wasmtime tag, a metered wazero engine named "wasmtime-standin" (the routing is what is
// tested); engines_wasmtime_test.go puts the real wasmtime engine here.
var newTestWasmtime = func(ctx context.Context) (sandbox.Engine, error) {
	eng, err := sandbox.New(ctx, plans.EngineWazero, sandbox.WithCompilationCacheDir(serveWazeroCache()))
	if err != nil {
		return nil, err
	}
	return renamedEngine{eng, "wasmtime-standin"}, nil
}

// wantWasmtimeName is the trace's engine name of newTestWasmtime's engine.
var wantWasmtimeName = "wasmtime-standin"

// engineChooser is sgde serve's rule without --engine: the plan's defaults.engine, else wazero;
// an engine not in available fails the plan.
func engineChooser(available ...string) EngineChooser {
	return func(p *plans.Plan) (string, error) {
		e := "wazero"
		if p.Defaults != nil && p.Defaults.Engine != "" {
			e = p.Defaults.Engine
		}
		if !slices.Contains(available, e) {
			return "", fmt.Errorf("engine %s is not in this build", e)
		}
		return e, nil
	}
}

// TestPlanEngineRefused checks that a plan asking for an engine the server cannot run is
// refused when the folder loads: New fails naming the file, and a reload keeps the old set.
func TestPlanEngineRefused(t *testing.T) {
	_, err := New(Options{PlansDir: "testdata/engines", Tenants: testTenants(t, ""), NewRunner: noRunner(t), EngineFor: engineChooser("wazero")})
	if err == nil || !strings.Contains(err.Error(), "wasmtime.yaml") || !strings.Contains(err.Error(), `"shout-on-wasmtime"`) ||
		!strings.Contains(err.Error(), "engine wasmtime is not in this build") {
		t.Fatalf("New with a wasmtime plan and no wasmtime: %v", err)
	}
	dir := t.TempDir()
	cp := func(name string) {
		b, err := os.ReadFile(filepath.Join("testdata/engines", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cp("default.yaml")
	s := newTestServer(t, Options{PlansDir: dir, NewRunner: noRunner(t), EngineFor: engineChooser("wazero")})
	cp("wasmtime.yaml")
	if err := s.Reload(); err == nil || !strings.Contains(err.Error(), "engine wasmtime is not in this build") {
		t.Fatalf("reload with a wasmtime plan and no wasmtime: %v", err)
	}
	if got := strings.Join(modelIDs(t, do(t, s.Handler(), "GET", "/v1/models", bobKey, "")), ","); got != "shout-on-default" {
		t.Errorf("models after the refused reload: %s", got)
	}
}

// TestPlanEngines serves a plan on the default engine and one whose defaults.engine is wasmtime
// to two tenants: each plan's code node runs on its engine, each tenant gets its own runner per
// engine, built once.
func TestPlanEngines(t *testing.T) {
	factory, built := realFactoryWith(t, nil, map[string]func(context.Context) (sandbox.Engine, error){"wasmtime": newTestWasmtime})
	daveKey := "sk-dave-test-0123456789abcdef"
	s := newTestServer(t, Options{PlansDir: "testdata/engines", NewRunner: factory, EngineFor: engineChooser("wazero", "wasmtime"),
		Tenants: testTenants(t, fmt.Sprintf("  - {name: dave, keys: [{sha256: %s}], plans: ['*']}\n", HashKey(daveKey)))})
	for range 2 {
		for _, key := range []string{bobKey, daveKey} {
			for plan, engine := range map[string]string{"shout-on-default": "wazero", "shout-on-wasmtime": wantWasmtimeName} {
				r := do(t, s.Handler(), "POST", "/v1/plans/"+plan+"/run", key, `{"inputs":{"text":"hi"},"trace":true}`)
				if r.status != 200 || r.json(t)["output"] != "HI!" {
					t.Fatalf("%s for %s: %d %s", plan, key[:6], r.status, r.body)
				}
				tr := r.json(t)["trace"].(map[string]any)
				got := tr["nodes"].([]any)[0].(map[string]any)["code"].(map[string]any)["engine"]
				if got != engine {
					t.Errorf("%s for %s ran on %v, want %s", plan, key[:6], got, engine)
				}
			}
		}
	}
	got := slices.Clone(*built)
	slices.Sort(got)
	if want := []string{"bob/wasmtime", "bob/wazero", "dave/wasmtime", "dave/wazero"}; !slices.Equal(got, want) {
		t.Errorf("runners built %v, want %v", got, want)
	}
	bob, dave := s.states[s.opts.Tenants.Authenticate(bobKey)], s.states[s.opts.Tenants.Authenticate(daveKey)]
	for _, e := range []string{"wazero", "wasmtime"} {
		if bob.runners[e] == nil || dave.runners[e] == nil || bob.runners[e].r == dave.runners[e].r {
			t.Errorf("engine %s: bob's runner %v, dave's %v: want one each, not shared", e, bob.runners[e], dave.runners[e])
		}
	}
}
