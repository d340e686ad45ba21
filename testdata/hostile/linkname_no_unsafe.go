// Hostile: //go:linkname pull form in a file that never names unsafe.
package main

import "github.com/sgde-project/sgde/wasm/guest"

//go:linkname nanotime runtime.nanotime
func nanotime() int64

func main() {
	guest.Run(func(map[string]any) (map[string]any, error) {
		return map[string]any{"t": nanotime()}, nil
	})
}
