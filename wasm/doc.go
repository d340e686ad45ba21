// Package wasm turns the Go source of a code node into a WebAssembly module: it validates the
// source against the code-node rules, builds it hermetically and caches the result by content.
// It never runs a module (that is package sandbox) and never hands unvalidated source to a compiler.
package wasm
