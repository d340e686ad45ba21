// Hostile: one allocation far over the memory limit.
package main

import "github.com/sgde-project/sgde/wasm/guest"

func main() {
	guest.Run(func(map[string]any) (map[string]any, error) {
		b := make([]byte, 3<<30)
		b[len(b)-1] = 1
		return map[string]any{"n": len(b)}, nil
	})
}
