// Package nodeexec runs one code node outside a plan, the way sgde exec and sgde build report
// it: it decodes the call inputs, builds or reads the module, loads it under the call's limits,
// calls it once per input (optionally repeated, for latency and fuel figures) and prints each
// call's output or error as text or as one JSON line.
//
// It owns what those two commands print, so that the command only maps flags to Options and
// errors to exit codes. It starts no engine: the caller passes one (the engine rules belong to
// the sandbox constructor). It imports sandbox, wasm and plans only.
package nodeexec
