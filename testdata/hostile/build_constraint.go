//go:build ignore

// Hostile: a build constraint that would make the go command skip (or swap in) files.
package main

import "github.com/sgde-project/sgde/wasm/guest"

func main() {
	guest.Run(func(map[string]any) (map[string]any, error) { return nil, nil })
}
