// Hostile: reads a host file through package os.
package main

import (
	"os"

	"github.com/sgde-project/sgde/wasm/guest"
)

func main() {
	guest.Run(func(map[string]any) (map[string]any, error) {
		b, err := os.ReadFile("/etc/passwd")
		return map[string]any{"passwd": string(b)}, err
	})
}
