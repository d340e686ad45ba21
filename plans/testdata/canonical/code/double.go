package main

import (
	"encoding/json"

	"github.com/sgde-project/sgde/wasm/guest"
)

func main() {
	guest.Run(func(in map[string]any) (map[string]any, error) {
		n, _ := in["x"].(json.Number).Float64()
		return map[string]any{"y": 2 * n}, nil
	})
}
