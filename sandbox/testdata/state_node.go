// A code node that keeps state between calls in package variables: on a pooled instance that
// is restored to its snapshot after every call, every call must see them fresh.
package main

import "github.com/sgde-project/sgde/wasm/guest"

var (
	calls int
	seen  = map[string]bool{}
	buf   []byte
)

func main() {
	guest.Run(func(in map[string]any) (map[string]any, error) {
		calls++
		k, _ := in["k"].(string)
		before := seen[k]
		seen[k] = true
		buf = append(buf, make([]byte, 1<<16)...) // dirty heap pages too
		return map[string]any{"calls": calls, "seen_before": before, "buf": len(buf)}, nil
	})
}
