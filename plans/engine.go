package plans

import (
	"errors"
	"fmt"
)

// EngineName names a sandbox engine for code nodes, as a plan's defaults.engine and the
// --engine flag spell it. It is defined here, at the bottom of the import graph, because plans
// validate defaults.engine; package sandbox starts engines by these names.
type EngineName string

// The sandbox engines.
const (
	// EngineWazero is the default engine: pure Go, fuel-metered.
	EngineWazero EngineName = "wazero"
	// EngineWasmtime needs a binary built with -tags wasmtime (and cgo).
	EngineWasmtime EngineName = "wasmtime"
)

// Engines lists every engine name, default first.
var Engines = []EngineName{EngineWazero, EngineWasmtime}

// ErrUnknownEngine is wrapped by ParseEngineName for a name that is no engine.
var ErrUnknownEngine = errors.New("unknown sandbox engine")

// ParseEngineName returns the engine s names; "" is EngineWazero, the default.
func ParseEngineName(s string) (EngineName, error) {
	switch n := EngineName(s); n {
	case "":
		return EngineWazero, nil
	case EngineWazero, EngineWasmtime:
		return n, nil
	}
	return "", fmt.Errorf("%w %q, want %s or %s", ErrUnknownEngine, s, EngineWazero, EngineWasmtime)
}

// Engine is the engine the plan's code nodes run on by default: defaults.engine, else
// EngineWazero. A validated plan always names a known engine.
func (p *Plan) Engine() EngineName {
	if p.Defaults == nil {
		return EngineWazero
	}
	n, err := ParseEngineName(p.Defaults.Engine)
	if err != nil {
		return EngineName(p.Defaults.Engine)
	}
	return n
}
