package library

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sgde-project/sgde/compiler/library/solvers"
	"github.com/sgde-project/sgde/internal/testlong"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/sandbox"
	"github.com/sgde-project/sgde/wasm"
)

// TestSolverModulesInSandbox builds solver modules to WebAssembly and checks that, in the
// sandbox, each answers exactly as the native solver does (answer or refusal) on items of every
// shipped BBH file. By default one module is built (they share their source); make test-long
// builds all of them.
func TestSolverModulesInSandbox(t *testing.T) {
	names := []string{"swap_track"}
	if testlong.Enabled() {
		names = solvers.Names()
	}
	files, _ := filepath.Glob("../../testdata/bbh/*.jsonl")
	if len(files) == 0 {
		t.Fatal("no BBH data")
	}
	var questions []string
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 1<<20)
		for i := 0; i < 4 && sc.Scan(); i++ {
			var it struct{ Input string }
			if err := json.Unmarshal(sc.Bytes(), &it); err != nil {
				t.Fatal(err)
			}
			questions = append(questions, it.Input)
		}
		fh.Close()
	}
	ctx := context.Background()
	b, err := wasm.NewBuilder()
	if err != nil {
		t.Fatal(err)
	}
	eng, err := sandbox.New(ctx, plans.EngineWazero, sandbox.WithMetering(sandbox.MeterWallClock))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	for _, name := range names {
		m, ok := Solver(name)
		if !ok {
			t.Fatalf("no module %s", name)
		}
		art, err := b.Build(ctx, []byte(m.Source), name)
		if err != nil {
			t.Fatalf("build %s: %v", name, err)
		}
		mod, err := eng.Load(ctx, art.Wasm)
		if err != nil {
			t.Fatal(err)
		}
		agree := 0
		for _, q := range questions {
			in, _ := json.Marshal(map[string]any{"question": q})
			res, callErr := mod.Call(ctx, in, sandbox.Limits{Timeout: 5 * time.Second, MemoryMiB: 64})
			want, nerr := SolveNative(name, q)
			switch {
			case nerr != nil && callErr != nil:
				agree++
			case nerr == nil && callErr == nil:
				var out struct{ Answer string }
				if err := json.Unmarshal(res.Output, &out); err != nil || out.Answer != want {
					t.Errorf("%s: sandbox %s, native %q", name, res.Output, want)
					continue
				}
				agree++
			default:
				t.Errorf("%s on %.60q: native err %v, sandbox err %v", name, q, nerr, callErr)
			}
		}
		if agree != len(questions) {
			t.Errorf("%s: sandbox and native agree on %d of %d questions", name, agree, len(questions))
		}
		mod.Close(ctx)
	}
}
