//go:build !(wasmtime && cgo)

package sandbox

import (
	"context"
	"fmt"
)

// errNoWasmtime is what New and Available return for plans.EngineWasmtime in this binary,
// built without the wasmtime engine (which needs cgo and the wasmtime C library) so that the
// default build stays pure Go.
var errNoWasmtime = fmt.Errorf("%w: this sgde was built without wasmtime (build with -tags wasmtime and cgo enabled)", ErrEngineUnavailable)

func newWasmtimeEngine(context.Context, engineConfig) (Engine, error) {
	return nil, fmt.Errorf("new engine wasmtime: %w", errNoWasmtime)
}
