// A code node that writes pseudo-random bytes at pseudo-random places of a 4 MiB package array
// (part of the snapshot image) and of fresh heap allocations, steered by its input: a pooled
// instance's memory must be byte for byte the snapshot after every restore, whatever a call
// wrote where.
package main

import (
	"encoding/json"

	"github.com/sgde-project/sgde/wasm/guest"
)

var arena [4 << 20]byte

var keep [][]byte

func main() {
	guest.Run(func(in map[string]any) (map[string]any, error) {
		seed, _ := in["seed"].(json.Number).Int64()
		writes, _ := in["writes"].(json.Number).Int64()
		x := uint64(seed)*0x9E3779B97F4A7C15 + 1
		next := func() uint64 { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x }
		var sum uint64
		for i := int64(0); i < writes; i++ {
			p := next() % uint64(len(arena))
			sum += uint64(arena[p])
			arena[p] = byte(next())
			if i%64 == 0 {
				b := make([]byte, 1+next()%512)
				b[len(b)-1] = byte(x)
				keep = append(keep, b)
			}
		}
		return map[string]any{"sum": sum, "kept": len(keep)}, nil
	})
}
