// Hostile: package unsafe for raw memory access.
package main

import (
	"unsafe"

	"github.com/sgde-project/sgde/wasm/guest"
)

func main() {
	guest.Run(func(map[string]any) (map[string]any, error) {
		p := (*[1 << 20]byte)(unsafe.Pointer(uintptr(8)))
		return map[string]any{"b": p[0]}, nil
	})
}
