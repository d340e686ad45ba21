// Hostile: allocates without end and keeps everything reachable.
package main

import "github.com/sgde-project/sgde/wasm/guest"

func main() {
	guest.Run(func(map[string]any) (map[string]any, error) {
		var keep [][]byte
		for {
			keep = append(keep, make([]byte, 1<<20))
		}
	})
}
