// Package wasmbin decodes and encodes WebAssembly binary modules into an IR that rewriting passes
// can edit. It owns the binary format only (sections, LEB128, instruction immediates and block
// structure); it does not type-check modules and does not run them: wazero validates what we emit.
package wasmbin
