// Hostile: math/rand is seeded from the environment.
package main

import (
	"math/rand/v2"

	"github.com/sgde-project/sgde/wasm/guest"
)

func main() {
	guest.Run(func(map[string]any) (map[string]any, error) {
		return map[string]any{"r": rand.Int()}, nil
	})
}
