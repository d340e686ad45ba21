// Hostile: an output that cannot be encoded (a map that contains itself).
package main

import "github.com/sgde-project/sgde/wasm/guest"

func main() {
	guest.Run(func(map[string]any) (map[string]any, error) {
		m := map[string]any{}
		m["self"] = m
		return m, nil
	})
}
