package runtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/sandbox"
	"github.com/sgde-project/sgde/wasm"
)

// planBurn is a plan that sets no limits anywhere: its code node gets exactly the documented
// defaults (docs/PLANS.md). The node spins n rounds of a loop and reports what it computed.
const planBurn = `
apiVersion: sgde/v1
kind: Plan
metadata: {name: burn}
inputs: [{name: n, type: integer}]
output: spin
nodes:
  - id: spin
    substrate: code
    code:
      inputs: {n: inputs.n}
      outputs: {x: integer}
      source: |
        package main

        import (
        	"encoding/json"

        	"github.com/sgde-project/sgde/wasm/guest"
        )

        func main() {
        	guest.Run(func(in map[string]any) (map[string]any, error) {
        		n, err := in["n"].(json.Number).Int64()
        		if err != nil {
        			return nil, err
        		}
        		var x int64
        		for i := int64(0); i < n; i++ {
        			x = x*31 + i
        		}
        		return map[string]any{"x": x}, nil
        	})
        }
`

// TestDefaultFuelIsTheDocumentedOne runs a plan without limits on the metered engine: a node
// that needs a few times plans.DefaultFuel (10^9, as docs/PLANS.md promises) but well under the
// 10^10 the engine once applied to plans without limits must stop with code_fuel_exhausted
// after spending exactly the default budget.
func TestDefaultFuelIsTheDocumentedOne(t *testing.T) {
	if testing.Short() {
		t.Skip("builds WebAssembly with the Go toolchain; skipped with -short")
	}
	ctx := context.Background()
	b, err := wasm.NewBuilder()
	if err != nil {
		t.Skipf("no builder: %v", err)
	}
	eng, err := sandbox.New(ctx, plans.EngineWazero, sandbox.WithCompilationCacheDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	r, err := runtime.New(runtime.Options{Engine: eng, Builder: b})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(ctx)
	p := mustPlan(t, planBurn)
	if l := p.EffectiveLimits(&p.Nodes[0]); *l.Fuel != plans.DefaultFuel || plans.DefaultFuel != 1_000_000_000 {
		t.Fatalf("effective fuel %d, default %d: docs/PLANS.md promises 10^9", *l.Fuel, uint64(plans.DefaultFuel))
	}

	// Calibrate: the fuel of one loop round, from a short run.
	const probe = 1_000_000
	res, err := r.Run(ctx, p, map[string]any{"n": json.Number("1000000")})
	if err != nil {
		t.Fatalf("probe run: %v", err)
	}
	u := res.Trace.Nodes[0].Code
	if u == nil || !u.Metered || u.Fuel == 0 || u.Fuel >= plans.DefaultFuel/10 {
		t.Fatalf("probe usage %+v: want metered fuel well under the default", u)
	}
	perRound := float64(u.Fuel) / probe
	// Three times the default budget: it finishes under a 10^10 budget, not under 10^9.
	n := int64(3 * plans.DefaultFuel / perRound)
	if need := float64(n) * perRound; need < 2*plans.DefaultFuel || need > 5*plans.DefaultFuel {
		t.Fatalf("calibration: %d rounds need %.3g fuel", n, need)
	}
	res, err = r.Run(ctx, p, map[string]any{"n": json.Number(itoa(n))})
	var ne *runtime.NodeError
	if !errors.As(err, &ne) || ne.Kind != "code_fuel_exhausted" || !errors.Is(err, sandbox.ErrFuelExhausted) {
		t.Fatalf("run of %d rounds (about %.3g fuel): err = %v, want code_fuel_exhausted", n, float64(n)*perRound, err)
	}
	if u := res.Trace.Nodes[0].Code; u != nil && u.Fuel != 0 && (u.Fuel < plans.DefaultFuel || u.Fuel > plans.DefaultFuel+1<<26) {
		t.Errorf("fuel used %d, want the default budget %d", u.Fuel, uint64(plans.DefaultFuel))
	}
	if !strings.Contains(err.Error(), `"spin"`) {
		t.Errorf("error does not name the node: %v", err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
