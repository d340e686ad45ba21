// Hostile: cgo.
package main

// #include <stdlib.h>
import "C"

import "github.com/sgde-project/sgde/wasm/guest"

func main() {
	guest.Run(func(map[string]any) (map[string]any, error) {
		return map[string]any{"r": int(C.rand())}, nil
	})
}
