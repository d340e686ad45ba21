// A loop-heavy code node for the fuel-overhead benchmark: n rounds of a small integer hash
// (xorshift and multiply), the kind of tight loop where metering costs the most per instruction.
package main

import (
	"encoding/json"
	"errors"

	"github.com/sgde-project/sgde/wasm/guest"
)

func main() {
	guest.Run(func(in map[string]any) (map[string]any, error) {
		num, ok := in["n"].(json.Number)
		if !ok {
			return nil, errors.New("n must be a number")
		}
		n, err := num.Int64()
		if err != nil {
			return nil, err
		}
		h := uint64(1469598103934665603)
		for i := int64(0); i < n; i++ {
			h ^= h >> 33
			h *= 0xff51afd7ed558ccd
			h += uint64(i)
		}
		return map[string]any{"h": h}, nil
	})
}
