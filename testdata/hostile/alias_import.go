// Hostile: renames an allowed import (aliases hide what a call really reaches).
package main

import (
	str "strings"

	"github.com/sgde-project/sgde/wasm/guest"
)

func main() {
	guest.Run(func(map[string]any) (map[string]any, error) {
		return map[string]any{"s": str.ToUpper("x")}, nil
	})
}
