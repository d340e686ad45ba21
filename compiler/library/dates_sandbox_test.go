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

// TestDateArithValidates: the generated module source passes the code-node validator (allowed
// imports only, a main, no clock), without building it.
func TestDateArithValidates(t *testing.T) {
	if err := wasm.Validate([]byte(DateArith().Source), "date_arith.go"); err != nil {
		t.Fatal(err)
	}
}

// TestDateArithInSandbox builds the date module to WebAssembly and checks its answers and
// refusals in the sandbox (the native tests are in modules/dates). A build takes 10-20 s on the
// shared box, so it runs under make test-long.
func TestDateArithInSandbox(t *testing.T) {
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
	m := DateArith()
	art, err := b.Build(ctx, []byte(m.Source), m.Name)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	mod, err := eng.Load(ctx, art.Wasm)
	if err != nil {
		t.Fatal(err)
	}
	defer mod.Close(ctx)
	q := "Tomorrow is 11/12/2019. What is the date yesterday in MM/DD/YYYY?\nOptions:\n(A) 11/10/2019\n(B) 11/11/2019"
	for _, tc := range []struct {
		in   string
		want string // "": refused
	}{
		{`{"extraction": {"date": "11/12/2019", "offsets": [{"days": -1}, {"days": -1}]}, "question": ` + quote(q) + `}`, "(A)"},
		{`{"extraction": {"date": "02/28/2000", "offset": {"days": 1}}}`, "02/29/2000"},
		{`{"extraction": {"date": "11/12/2019", "offsets": [{"days": 5}]}, "question": ` + quote(q) + `}`, ""},
		{`{"extraction": "11/12/2019"}`, ""},
		{`{"question": "x"}`, ""},
	} {
		res, err := mod.Call(ctx, []byte(tc.in), sandbox.Limits{Timeout: 5 * time.Second, MemoryMiB: 64})
		if tc.want == "" {
			if err == nil {
				t.Errorf("%s: not refused: %s", tc.in, res.Output)
			}
			continue
		}
		var out struct{ Answer string }
		if err != nil || json.Unmarshal(res.Output, &out) != nil || out.Answer != tc.want {
			t.Errorf("%s: got %s, %v, want %s", tc.in, res.Output, err, tc.want)
		}
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
