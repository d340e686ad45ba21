// Package sandbox runs code-node modules under hard limits: a fresh instance per call, bounded
// memory, wall time and output, no files, network, environment or real clock. It owns the Engine
// interface and its implementations; it never builds modules from source (that is package wasm).
package sandbox
