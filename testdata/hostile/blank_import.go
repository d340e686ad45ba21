// Hostile: a blank import of an allowed package (runs its initialisers only).
package main

import (
	_ "strings"

	"github.com/sgde-project/sgde/wasm/guest"
)

func main() {
	guest.Run(func(map[string]any) (map[string]any, error) { return nil, nil })
}
