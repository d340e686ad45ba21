// Hostile: unbounded recursion depth.
package main

import "github.com/sgde-project/sgde/wasm/guest"

func down(n int) int {
	var pad [16]int
	pad[n%16] = n
	return down(n+1) + pad[3]
}

func main() {
	guest.Run(func(map[string]any) (map[string]any, error) {
		return map[string]any{"n": down(0)}, nil
	})
}
