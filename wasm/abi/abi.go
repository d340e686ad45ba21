// Package abi names the interface between a code node (the guest) and sgde (the host): the
// host module the guest imports from, its functions, the globals and exports the sandbox's
// rewriter adds, and the entry points of command and reactor builds. The builder (package
// wasm), the guest SDK (wasm/guest), the sandbox engines and the rewriter all use these names,
// so this leaf package, which imports nothing, is their one definition.
//
// The guest SDK's //go:wasmimport directives must spell the names literally (a directive takes
// no constants); wasm/guest's TestABINames checks them against this package.
package abi

// HostModule is the module every sgde host function is imported from.
const HostModule = "sgde"

// Host functions the guest SDK imports from HostModule.
const (
	// InputSize returns the length of the call's input object.
	InputSize = "input_size"
	// InputRead copies the input object to guest memory.
	InputRead = "input_read"
	// OutputWrite hands the host the call's one result envelope.
	OutputWrite = "output_write"
)

// Host functions and the global of the sandbox's limit passes (sandbox/internal/rewrite): a
// module rewritten for fuel or call depth imports the functions from HostModule and exports the
// global. A guest may not bring its own: the sandbox refuses modules that already do.
const (
	// OutOfFuel is called when the fuel global goes negative; the host stops the call or
	// refills it.
	OutOfFuel = "out_of_fuel"
	// StackOverflow is called when the call-depth limit is exceeded; it does not return.
	StackOverflow = "stack_overflow"
	// FuelGlobal is the exported mutable i64 global that holds the fuel left.
	FuelGlobal = "sgde_fuel"
	// DepthGlobal is the exported mutable i32 global that counts live guest calls.
	DepthGlobal = "sgde_depth"
)

// Entry points.
const (
	// CommandEntry is the export a command build runs once per instance (WASI's _start).
	CommandEntry = "_start"
	// ReactorInit is the export that initialises a reactor build (WASI's _initialize): the Go
	// runtime and package initialisation, run once before the snapshot.
	ReactorInit = "_initialize"
	// ReactorEntry is the export a reactor build is called through once per call: a
	// builder-generated //go:wasmexport function that runs the node's main.
	ReactorEntry = "sgde_call"
)
