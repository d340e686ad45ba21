package main

import (
	"encoding/json"

	"github.com/sgde-project/sgde/wasm/guest"
)

func main() {
	guest.Run(func(in map[string]any) (map[string]any, error) {
		a, _ := in["a"].(json.Number).Float64()
		b, _ := in["b"].(json.Number).Float64()
		return map[string]any{"sum": a + b}, nil
	})
}
