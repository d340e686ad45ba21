package runenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sgde-project/sgde/internal/testlong"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime/llm"
	"github.com/sgde-project/sgde/sandbox"
)

func loadPlan(t *testing.T, name string) *plans.Plan {
	t.Helper()
	p, err := plans.Load(filepath.Join("..", "..", "testdata", "plans", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestOpen: what a plan of llm nodes needs is checked before anything runs, wrong settings
// are *SettingError (the CLI's exit 2), and the cache and traces files land where they are told.
func TestOpen(t *testing.T) {
	p := loadPlan(t, "gsm-hard-zero-shot.yaml")
	const url = "http://127.0.0.1:9/v1" // never dialled: Open sends no request
	tests := []struct {
		name      string
		cfg       Config
		wantErr   string // "" for success
		setting   bool   // the error is a *SettingError
		cacheFile string // a file Open must create, relative to the cache root
	}{
		{"default cache under the root", Config{Student: llm.NewConfig(url, "m")}, "", false, "responses.db"},
		{"cache off by path word", Config{CachePath: "off", Student: llm.NewConfig(url, "m")}, "", false, ""},
		{"replay needs no url", Config{CacheMode: "replay", Student: llm.NewConfig("", "m")}, "", false, "responses.db"},
		{"bad mode", Config{CacheMode: "sometimes", Student: llm.NewConfig(url, "m")}, "--cache-mode", true, ""},
		{"mode word as path", Config{CachePath: "replay", Student: llm.NewConfig(url, "m")}, "did you mean --cache-mode replay", true, ""},
		{"no model", Config{Student: llm.NewConfig(url, "")}, "--student-model", true, ""},
		{"no url", Config{Student: llm.NewConfig("", "m")}, "--student-url", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			t.Setenv("SGDE_CACHE_DIR", root)
			t.Chdir(t.TempDir()) // a "replay" or "off" file must not exist here
			tt.cfg.Traces = filepath.Join(root, "traces.jsonl")
			e, err := Open(context.Background(), tt.cfg, p)
			if tt.wantErr != "" {
				var se *SettingError
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || errors.As(err, &se) != tt.setting {
					t.Fatalf("Open = %v, want an error with %q (setting error %v)", err, tt.wantErr, tt.setting)
				}
				if _, err := os.Stat(tt.cfg.Traces); err == nil {
					t.Error("a failed Open created the traces file")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			if e.Runner == nil || e.Traces == nil {
				t.Fatalf("Open = %+v, want a runner and a traces writer", e)
			}
			if _, err := os.Stat(tt.cfg.Traces); err != nil {
				t.Errorf("traces file: %v", err)
			}
			if tt.cacheFile != "" {
				if _, err := os.Stat(filepath.Join(root, tt.cacheFile)); err != nil {
					t.Errorf("cache file: %v", err)
				}
			}
		})
	}
}

// TestServedEngine: serve's rule is run's (flag, else defaults.engine, else wazero), checked
// against this build; plans without code nodes take the flag's engine.
func TestServedEngine(t *testing.T) {
	codePlan := func(engine string) *plans.Plan {
		return &plans.Plan{Defaults: &plans.Defaults{Engine: engine}, Nodes: []plans.Node{{ID: "c", Substrate: plans.SubstrateCode}}}
	}
	llmOnly := &plans.Plan{Defaults: &plans.Defaults{Engine: "wasmtime"}, Nodes: []plans.Node{{ID: "a", Substrate: plans.SubstrateLLM}}}
	wasmtime := sandbox.Available(plans.EngineWasmtime) == nil
	tests := []struct {
		name    string
		flag    string
		p       *plans.Plan
		want    plans.EngineName
		wantErr string
	}{
		{"no plan", "", nil, plans.EngineWazero, ""},
		{"bad flag", "v8", nil, "", "--engine must be"},
		{"llm plan ignores its default", "", llmOnly, plans.EngineWazero, ""},
		{"code plan default", "", codePlan(""), plans.EngineWazero, ""},
		{"flag beats plan", "wazero", codePlan("wasmtime"), plans.EngineWazero, ""},
		{"plan asks for wasmtime", "", codePlan("wasmtime"), plans.EngineWasmtime, map[bool]string{true: "", false: "serve it with --engine wazero"}[wasmtime]},
	}
	for _, tt := range tests {
		got, err := ServedEngine(tt.flag, tt.p)
		switch {
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s: ServedEngine = %q, %v; want an error with %q", tt.name, got, err, tt.wantErr)
		case tt.wantErr == "" && (err != nil || got != tt.want):
			t.Errorf("%s: ServedEngine = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}

// TestBuilders: one builder per engine, made once and shared; reactors only where the engine
// serves them (wazero on Linux).
func TestBuilders(t *testing.T) {
	var bs Builders
	a, err := bs.Get(string(plans.EngineWazero))
	if err != nil {
		t.Skipf("no Go toolchain: %v", err)
	}
	if b, _ := bs.Get(string(plans.EngineWazero)); b != a {
		t.Error("a second Get made a second builder")
	}
	if want := sandbox.ServesReactors(plans.EngineWazero, sandbox.MeterFuel); a.Reactor() != want {
		t.Errorf("wazero builder makes reactors: %v, want %v", a.Reactor(), want)
	}
	w, err := bs.Get(string(plans.EngineWasmtime))
	if err == nil && w.Reactor() {
		t.Error("the wasmtime builder makes reactors")
	}
}

// TestCheckCode: a code node importing what the sandbox forbids is caught without a build;
// --build (long: it runs the Go toolchain) builds the plan's code under its engine's builder.
func TestCheckCode(t *testing.T) {
	ctx := context.Background()
	if err := CheckCode(ctx, loadPlan(t, "gsm-hard-zero-shot.yaml"), true); err != nil {
		t.Errorf("a plan without code nodes: %v", err)
	}
	p := loadPlan(t, "mixed-routed.yaml")
	if err := CheckCode(ctx, p, false); err != nil {
		t.Fatalf("a valid plan: %v", err)
	}
	for i := range p.Nodes {
		if n := &p.Nodes[i]; n.Code != nil {
			n.Code.Source = strings.Replace(n.Code.SourceText(), "import (", "import (\n\t\"os\"\n", 1)
			n.Code.Path = ""
			if err := CheckCode(ctx, p, false); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("node %q", n.ID)) {
				t.Errorf("a node importing os: %v, want an error naming node %q", err, n.ID)
			}
			return
		}
	}
	t.Fatal("mixed-routed.yaml has no code node")
}

func TestCheckCodeBuild(t *testing.T) {
	testlong.Skip(t, "builds a code node with the Go toolchain")
	if err := CheckCode(context.Background(), loadPlan(t, "mixed-routed.yaml"), true); err != nil {
		t.Fatal(err)
	}
}
