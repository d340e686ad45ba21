package runtime_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/sandbox"
	"github.com/sgde-project/sgde/wasm"
)

// planBurn is a plan that sets no limits anywhere: its code node gets exactly the documented
// defaults (docs/PLANS.md). The node's module is loopModule's, whatever the source says.
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
      source: "package main\n\nfunc main() {}\n"
`

// burnRounds is how many rounds loopModule's loop runs: at 7 fuel a round (local.get,
// i64.const, i64.sub, local.tee, i64.const, i64.ne, br_if; the structural instructions are
// free), 2.1*10^9 fuel, between the documented default of 10^9 and the 10^10 the engine once
// applied to plans without limits.
const burnRounds = 300_000_000

// moduleBuilder is a Builder that returns one fixed module for every source.
type moduleBuilder struct{ wasm []byte }

func (b moduleBuilder) Build(context.Context, []byte, string) (*wasm.Artifact, error) {
	sum := sha256.Sum256(b.wasm)
	return &wasm.Artifact{Wasm: b.wasm, Digest: "sha256:" + hex.EncodeToString(sum[:])}, nil
}

// loopModule assembles a command module whose _start counts an i64 down from n to 0 and
// returns without a result. It is hand-assembled rather than built from Go so that compiling it
// costs nothing, under -race too.
func loopModule(n int64) []byte {
	body := []byte{0x01, 0x01, 0x7e, 0x42} // one i64 local; i64.const
	body = append(body, sleb(n)...)
	body = append(body,
		0x21, 0x00, // local.set 0
		0x03, 0x40, // loop
		0x20, 0x00, 0x42, 0x01, 0x7d, // local.get 0, i64.const 1, i64.sub
		0x22, 0x00, 0x42, 0x00, 0x52, // local.tee 0, i64.const 0, i64.ne
		0x0d, 0x00, // br_if 0
		0x0b, 0x0b) // end loop, end function
	section := func(id byte, content ...byte) []byte { return append([]byte{id, byte(len(content))}, content...) }
	m := []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}
	m = append(m, section(1, 0x01, 0x60, 0x00, 0x00)...) // type 0: () -> ()
	m = append(m, section(3, 0x01, 0x00)...)             // func 0: type 0
	m = append(m, section(5, 0x01, 0x00, 0x01)...)       // one memory of one page
	m = append(m, section(7, 0x02,
		0x06, '_', 's', 't', 'a', 'r', 't', 0x00, 0x00,
		0x06, 'm', 'e', 'm', 'o', 'r', 'y', 0x02, 0x00)...)
	m = append(m, section(10, append([]byte{0x01, byte(len(body))}, body...)...)...)
	return m
}

// sleb is n in signed LEB128.
func sleb(n int64) []byte {
	var out []byte
	for {
		b := byte(n & 0x7f)
		n >>= 7
		if (n == 0 && b&0x40 == 0) || (n == -1 && b&0x40 != 0) {
			return append(out, b)
		}
		out = append(out, b|0x80)
	}
}

// TestDefaultFuelIsTheDocumentedOne runs a plan without limits on the metered engine: a node
// that needs about twice plans.DefaultFuel (10^9, as docs/PLANS.md promises) but well under the
// 10^10 the engine once applied to plans without limits must stop with code_fuel_exhausted
// after spending exactly the default budget (it used to run to its end and fail for lack of a
// result).
func TestDefaultFuelIsTheDocumentedOne(t *testing.T) {
	ctx := context.Background()
	eng, err := sandbox.New(ctx, plans.EngineWazero)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	r, err := runtime.New(runtime.Options{Engine: eng, Builder: moduleBuilder{loopModule(burnRounds)}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(ctx)
	p := mustPlan(t, planBurn)
	if l := p.EffectiveLimits(&p.Nodes[0]); *l.Fuel != plans.DefaultFuel || plans.DefaultFuel != 1_000_000_000 {
		t.Fatalf("effective fuel %d, default %d: docs/PLANS.md promises 10^9", *l.Fuel, uint64(plans.DefaultFuel))
	}
	res, err := r.Run(ctx, p, map[string]any{"n": 1})
	var ne *runtime.NodeError
	if !errors.As(err, &ne) || ne.Kind != "code_fuel_exhausted" || !errors.Is(err, sandbox.ErrFuelExhausted) {
		t.Fatalf("err = %v, want code_fuel_exhausted", err)
	}
	if !strings.Contains(err.Error(), `"spin"`) {
		t.Errorf("error does not name the node: %v", err)
	}
	// The engine charges fuel per run of straight-line code, so it stops within one loop round
	// of the budget.
	if u := res.Trace.Nodes[0].Code; u == nil || !u.Metered || u.Fuel < plans.DefaultFuel || u.Fuel > plans.DefaultFuel+8 {
		t.Errorf("code usage %+v, want the default budget %d used", u, uint64(plans.DefaultFuel))
	}

	// The same module under a budget that covers it runs to its end (and fails for want of a
	// result): the module really needs more than the default and less than 10^10.
	p.Defaults = &plans.Defaults{Limits: &plans.Limits{Fuel: ptr(uint64(10 * plans.DefaultFuel))}}
	_, err = r.Run(ctx, p, map[string]any{"n": 1})
	if !errors.As(err, &ne) || ne.Kind != "code_bad_output" && ne.Kind != "code_"+sandbox.Kind(sandbox.ErrBadOutput) {
		t.Fatalf("with 10^10 fuel: err = %v (kind %q), want the module to finish without a result", err, kindOf(ne))
	}
}

func ptr[T any](v T) *T { return &v }

func kindOf(ne *runtime.NodeError) string {
	if ne == nil {
		return ""
	}
	return ne.Kind
}
