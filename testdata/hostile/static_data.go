// Hostile: static data far over the memory limit (initial memory, before any code runs).
package main

import "github.com/sgde-project/sgde/wasm/guest"

var big [512 << 20]byte

func main() {
	guest.Run(func(in map[string]any) (map[string]any, error) {
		big[len(in)] = 1
		return map[string]any{"b": big[0]}, nil
	})
}
