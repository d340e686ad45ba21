// Hostile: a panic whose message is megabytes long.
package main

import (
	"strings"

	"github.com/sgde-project/sgde/wasm/guest"
)

func main() {
	guest.Run(func(map[string]any) (map[string]any, error) {
		panic(strings.Repeat("boom ", 2<<20))
	})
}
