// Hostile: declares its own host import to open files through WASI and to write a forged result.
package main

import "github.com/sgde-project/sgde/wasm/guest"

//go:wasmimport sgde output_write
func outputWrite(ptr *byte, n uint32)

func main() {
	b := []byte(`{"output":{"answer":42}}`)
	outputWrite(&b[0], uint32(len(b)))
	guest.Run(func(map[string]any) (map[string]any, error) { return nil, nil })
}
