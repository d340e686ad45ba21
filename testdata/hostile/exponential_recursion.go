// Hostile: loop-free exponential recursion (2^100 calls, shallow stack).
package main

import "github.com/sgde-project/sgde/wasm/guest"

func f(n int) int {
	if n == 0 {
		return 1
	}
	return f(n-1) + f(n-1)
}

func main() {
	guest.Run(func(map[string]any) (map[string]any, error) {
		return map[string]any{"n": f(100)}, nil
	})
}
