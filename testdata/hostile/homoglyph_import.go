// Hostile: "ѕtrings" with a Cyrillic dze (U+0455) instead of a Latin s.
package main

import (
	"ѕtrings"

	"github.com/sgde-project/sgde/wasm/guest"
)

func main() {
	guest.Run(func(map[string]any) (map[string]any, error) {
		return map[string]any{"s": ѕtrings.ToUpper("x")}, nil
	})
}
