// Hostile: exact arithmetic that never finishes in time (a number with 10^9 digits).
package main

import (
	"math/big"

	"github.com/sgde-project/sgde/wasm/guest"
)

func main() {
	guest.Run(func(map[string]any) (map[string]any, error) {
		x := new(big.Int).Exp(big.NewInt(3), big.NewInt(1_000_000_000), nil)
		return map[string]any{"bits": x.BitLen()}, nil
	})
}
