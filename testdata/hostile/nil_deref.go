// Hostile: a nil dereference inside the node's function (recovered by the SDK).
package main

import "github.com/sgde-project/sgde/wasm/guest"

type node struct{ next *node }

func main() {
	guest.Run(func(map[string]any) (map[string]any, error) {
		var n *node
		return map[string]any{"v": n.next.next}, nil
	})
}
