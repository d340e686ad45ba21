// Hostile: reads the host environment through package syscall.
package main

import (
	"syscall"

	"github.com/sgde-project/sgde/wasm/guest"
)

func main() {
	guest.Run(func(map[string]any) (map[string]any, error) {
		return map[string]any{"env": syscall.Environ()}, nil
	})
}
