// Package sandbox runs code-node modules under hard limits: every call starts from clean state
// (a fresh instance, or a pooled one restored to its pre-initialised snapshot), with bounded fuel,
// stack depth, memory, wall time and output, and no files, network, environment or real clock.
// It owns the Engine interface and its implementations; it never builds modules from source
// (that is package wasm).
package sandbox
