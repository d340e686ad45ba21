package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	goruntime "runtime"

	"github.com/urfave/cli/v2"

	"github.com/sgde-project/sgde/sandbox"
	"github.com/sgde-project/sgde/wasm"
)

// Sandbox engines a code node can run on.
const (
	engineWazero   = "wazero"
	engineWasmtime = "wasmtime"
)

// errNoWasmtime is what --engine wasmtime (or a plan's defaults.engine) gets from a binary built
// without the wasmtime tag.
var errNoWasmtime = errors.New("this sgde was built without wasmtime support (build with -tags wasmtime)")

// newWasmtimeEngine starts the wasmtime engine with its compile cache in dir. It is nil unless
// the binary was built with -tags wasmtime (engine_wasmtime.go sets it), so the default build
// stays pure Go.
var newWasmtimeEngine func(ctx context.Context, cacheDir string) (sandbox.Engine, error)

// engineFlag is the --engine flag of every command that runs code nodes.
func engineFlag() cli.Flag {
	return &cli.StringFlag{
		Name: "engine",
		Usage: "sandbox `ENGINE` for code nodes: wazero or wasmtime (wasmtime meters fuel; it needs a " +
			"build with -tags wasmtime). Default: the plan's defaults.engine, else wazero",
	}
}

// chooseEngine resolves the engine name: the flag when given, else the plan's default, else
// wazero. A bad flag value is a usage error; a bad plan value cannot pass plan validation.
func chooseEngine(flag, planDefault string) (string, error) {
	name := flag
	if name == "" {
		name = planDefault
	}
	switch name {
	case "", engineWazero:
		return engineWazero, nil
	case engineWasmtime:
		return engineWasmtime, nil
	}
	if flag != "" {
		return "", usagef("--engine must be %s or %s, got %q", engineWazero, engineWasmtime, flag)
	}
	return "", fmt.Errorf("plan asks for engine %q, want %s or %s", planDefault, engineWazero, engineWasmtime)
}

// newEngine starts the named engine (wazero: the fuel-metered engine) with its compile cache under wasm.CacheRoot() (none when
// the cache root cannot be found). The caller closes it.
func newEngine(ctx context.Context, name string) (sandbox.Engine, error) {
	root, rootErr := wasm.CacheRoot()
	cacheDir := func(sub string) string {
		if rootErr != nil {
			return ""
		}
		return filepath.Join(root, sub)
	}
	switch name {
	case "", engineWazero:
		var opts []sandbox.WazeroOption
		if dir := cacheDir("wazero"); dir != "" {
			opts = append(opts, sandbox.WithCompilationCacheDir(dir))
		}
		// Metered: fuel bounds every call deterministically and costs ~1.2x, where wazero's
		// WithCloseOnContextDone costs up to 16x (docs/BENCHMARKS.md).
		return sandbox.NewWazeroMetered(ctx, opts...)
	case engineWasmtime:
		if newWasmtimeEngine == nil {
			return nil, errNoWasmtime
		}
		return newWasmtimeEngine(ctx, cacheDir("wasmtime"))
	}
	return nil, usagef("--engine must be %s or %s, got %q", engineWazero, engineWasmtime, name)
}

// newBuilder returns the code-node builder for the named engine. For wazero on Linux, nodes are
// built as reactors, which the metered engine pre-initialises once and serves from pooled
// instances restored to the snapshot after every call (docs/RATIONALE.md); elsewhere they are
// commands, run in a fresh instance per call. Both start every call from the same clean state.
func newBuilder(engine string, opts ...wasm.BuilderOption) (*wasm.Builder, error) {
	if (engine == "" || engine == engineWazero) && goruntime.GOOS == "linux" {
		opts = append(opts, wasm.WithReactor())
	}
	return wasm.NewBuilder(opts...)
}
