// Hostile: reads the wall clock, which would make the node's output differ from run to run.
package main

import (
	"time"

	"github.com/sgde-project/sgde/wasm/guest"
)

func main() {
	guest.Run(func(map[string]any) (map[string]any, error) {
		return map[string]any{"now": time.Now().String()}, nil
	})
}
