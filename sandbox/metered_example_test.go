package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/sandbox"
)

// A metered call reports the fuel it used, the same on every run; a budget too small for the
// work ends in ErrFuelExhausted rather than a wall-clock timeout.
func ExampleNew() {
	ctx := context.Background()
	e, err := sandbox.New(ctx, plans.EngineWazero)
	if err != nil {
		panic(err)
	}
	defer e.Close(ctx)
	wasm, err := os.ReadFile("../testdata/hostile/loop_start.wasm") // _start loops forever
	if err != nil {
		panic(err)
	}
	mod, err := e.Load(ctx, wasm)
	if err != nil {
		panic(err)
	}
	res, err := mod.Call(ctx, []byte(`{}`), sandbox.Limits{Fuel: 1_000_000})
	fmt.Println(errors.Is(err, sandbox.ErrFuelExhausted), res.Usage.Metered, res.Usage.Fuel >= 1_000_000)
	// Output: true true true
}
