// Hostile: an import path that walks out of an allowed package.
package main

import (
	"strings/../os"

	"github.com/sgde-project/sgde/wasm/guest"
)

func main() {
	guest.Run(func(map[string]any) (map[string]any, error) {
		return map[string]any{"pid": os.Getpid()}, nil
	})
}
