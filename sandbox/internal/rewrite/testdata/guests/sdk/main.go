// Command sdk is a test guest built on the guest SDK: it sums the numbers in its input.
package main

import (
	"encoding/json"

	"github.com/sgde-project/sgde/wasm/guest"
)

func main() {
	guest.Run(func(in map[string]any) (map[string]any, error) {
		var sum float64
		xs, _ := in["xs"].([]any)
		for _, x := range xs {
			f, err := x.(json.Number).Float64()
			if err != nil {
				return nil, err
			}
			sum += f
		}
		return map[string]any{"sum": sum, "n": len(xs)}, nil
	})
}
