//go:build wasmtime && cgo

package serve

import (
	"context"

	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/sandbox"
)

func init() {
	newTestWasmtime = func(ctx context.Context) (sandbox.Engine, error) {
		return sandbox.New(ctx, plans.EngineWasmtime)
	}
	wantWasmtimeName = "wasmtime"
}
