package sandbox

import (
	"context"
	"encoding/json"
	"time"

	"github.com/sgde-project/sgde/plans"
)

// Engine loads WebAssembly code-node modules. Implementations: wazero (default, pure Go) and
// wasmtime (build tag wasmtime). An Engine is safe for concurrent use.
type Engine interface {
	// Name is the engine's name, as plans and the command line spell it.
	Name() plans.EngineName
	// Load validates and compiles a module so that it can be called many times. Compilation is
	// cached by the engine where it can be.
	Load(ctx context.Context, wasm []byte) (Module, error)
	// Close releases everything the engine holds; modules it loaded become unusable.
	Close(ctx context.Context) error
}

// Module is a compiled code node. Every Call starts from clean state: nothing one call writes is
// visible to the next. A Module is safe for concurrent use.
type Module interface {
	// Call runs the node once on input (a JSON object) under lim.
	Call(ctx context.Context, input []byte, lim Limits) (Result, error)
	// Close releases the compiled module.
	Close(ctx context.Context) error
}

// Limits bounds one call. Zero values mean the engine's defaults, never "unlimited".
type Limits struct {
	// Fuel is the instruction budget where the engine meters fuel.
	Fuel uint64
	// MemoryMiB caps the guest's linear memory.
	MemoryMiB uint32
	// MaxOutputBytes caps the output object and each of stdout and stderr.
	MaxOutputBytes int
	// Timeout is the wall-clock bound of the call.
	Timeout time.Duration
}

// Result is what a successful call returns.
type Result struct {
	// Output is the node's output object as JSON.
	Output json.RawMessage
	// Stdout and Stderr are what the guest printed, truncated to the output limit. They are
	// diagnostics only: they can never become the node's output.
	Stdout, Stderr []byte
	Usage          Usage
}

// Usage reports what one call consumed.
type Usage struct {
	Wall            time.Duration `json:"wall_ns"`
	PeakMemoryPages uint32        `json:"peak_memory_pages"`
	// Fuel is the fuel consumed; valid only when Metered is true.
	Fuel    uint64 `json:"fuel,omitempty"`
	Metered bool   `json:"metered"`
}
