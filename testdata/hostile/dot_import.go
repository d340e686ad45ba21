// Hostile: a dot import.
package main

import (
	. "strings"

	"github.com/sgde-project/sgde/wasm/guest"
)

func main() {
	guest.Run(func(map[string]any) (map[string]any, error) {
		return map[string]any{"s": ToUpper("x")}, nil
	})
}
