// Hostile: delivers two results, hoping the host keeps the second.
package main

import "github.com/sgde-project/sgde/wasm/guest"

func main() {
	guest.Run(func(map[string]any) (map[string]any, error) { return map[string]any{"answer": 1}, nil })
	guest.Run(func(map[string]any) (map[string]any, error) { return map[string]any{"answer": 42}, nil })
}
