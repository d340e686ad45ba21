// Hostile: an output object far over the output limit.
package main

import (
	"strings"

	"github.com/sgde-project/sgde/wasm/guest"
)

func main() {
	guest.Run(func(map[string]any) (map[string]any, error) {
		return map[string]any{"s": strings.Repeat("x", 8<<20)}, nil
	})
}
