// Hostile: a loop that never ends.
package main

import "github.com/sgde-project/sgde/wasm/guest"

func main() {
	guest.Run(func(map[string]any) (map[string]any, error) {
		n := 0
		for {
			n++
		}
	})
}
