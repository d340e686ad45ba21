// Hostile: reads OS randomness.
package main

import (
	"crypto/rand"

	"github.com/sgde-project/sgde/wasm/guest"
)

func main() {
	guest.Run(func(map[string]any) (map[string]any, error) {
		return map[string]any{"r": rand.Text()}, nil
	})
}
