//go:build wasmtime && cgo

package main

import (
	"context"

	"github.com/sgde-project/sgde/sandbox"
)

func init() {
	newWasmtimeEngine = func(ctx context.Context, cacheDir string) (sandbox.Engine, error) {
		cfg := sandbox.NewWasmtimeConfig()
		if cacheDir != "" {
			cfg = cfg.WithCacheDir(cacheDir)
		}
		return sandbox.NewWasmtime(ctx, cfg)
	}
}
