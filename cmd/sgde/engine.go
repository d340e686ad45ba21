package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/sgde-project/sgde/internal/cachedir"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/sandbox"
	"github.com/sgde-project/sgde/wasm"
)

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
func chooseEngine(flag, planDefault string) (plans.EngineName, error) {
	if flag != "" {
		name, err := plans.ParseEngineName(flag)
		if err != nil {
			return "", usagef("--engine must be %s or %s, got %q", plans.EngineWazero, plans.EngineWasmtime, flag)
		}
		return name, nil
	}
	name, err := plans.ParseEngineName(planDefault)
	if err != nil {
		return "", fmt.Errorf("plan asks for engine: %w", err)
	}
	return name, nil
}

// engineOptions are the options every command starts the named engine with: its compile
// cache under the cache root (none when the cache root cannot be found), then extra.
func engineOptions(name plans.EngineName, extra ...sandbox.Option) []sandbox.Option {
	var opts []sandbox.Option
	if root, err := cachedir.Root(); err == nil {
		dir := filepath.Join(root, string(name))
		wasm.TrimCache(dir, wasm.DefaultCompileCacheMaxBytes) // compiled code of old modules goes first
		opts = append(opts, sandbox.WithCompilationCacheDir(dir))
	}
	return append(opts, extra...)
}

// newEngine starts the named engine, fuel-metered, with its compile cache under the cache
// root. The caller closes it.
func newEngine(ctx context.Context, name plans.EngineName) (sandbox.Engine, error) {
	eng, err := sandbox.New(ctx, name, engineOptions(name)...)
	if errors.Is(err, plans.ErrUnknownEngine) {
		return nil, usagef("--engine must be %s or %s, got %q", plans.EngineWazero, plans.EngineWasmtime, name)
	}
	return eng, err
}

// newBuilder returns the builder matched to the named engine as newEngine starts it
// (runtime.NewBuilder: reactors for wazero on Linux, commands elsewhere).
func newBuilder(name plans.EngineName) (*wasm.Builder, error) {
	return runtime.NewBuilder(name)
}

// newSandbox starts the named engine as newEngine does and the builder matched to it
// (runtime.NewSandbox). The caller closes the engine.
func newSandbox(ctx context.Context, name plans.EngineName, builderOpts ...wasm.BuilderOption) (sandbox.Engine, *wasm.Builder, error) {
	return runtime.NewSandbox(ctx, name, engineOptions(name), builderOpts...)
}
