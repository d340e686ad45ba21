package library

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/sgde-project/sgde/internal/testlong"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/sandbox"
	"github.com/sgde-project/sgde/wasm"
)

// TestTallyInSandbox builds the tally module to WebAssembly and checks its sums and refusals in
// the sandbox (the native tests are in modules/tally). A build takes 10-20 s on the shared box,
// so it runs under make test-long.
func TestTallyInSandbox(t *testing.T) {
	if !testlong.Enabled() {
		t.Skip("long: make test-long")
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
	m := Tally()
	art, err := b.Build(ctx, []byte(m.Source), m.Name)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	mod, err := eng.Load(ctx, art.Wasm)
	if err != nil {
		t.Fatal(err)
	}
	defer mod.Close(ctx)
	for _, tc := range []struct {
		in   string
		want int64 // -1: refused
	}{
		{`{"counts": {"pears": 2, "fig": 1}}`, 3},
		{`{"counts": [4, "1", 1.0]}`, 6},
		{`{"counts": {"a": 2.5}}`, -1},
		{`{"counts": {"a": {"b": 1}}}`, -1},
		{`{"answer": 3}`, -1},
	} {
		res, err := mod.Call(ctx, []byte(tc.in), sandbox.Limits{Timeout: 5 * time.Second, MemoryMiB: 64})
		if tc.want < 0 {
			if err == nil {
				t.Errorf("%s: not refused: %s", tc.in, res.Output)
			}
			continue
		}
		var out struct{ Answer int64 }
		if err != nil || json.Unmarshal(res.Output, &out) != nil || out.Answer != tc.want {
			t.Errorf("%s: got %s, %v, want %d", tc.in, res.Output, err, tc.want)
		}
	}
}
